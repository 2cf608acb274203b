//! Just enough DER to keep Envoy from rejecting a secret, and to show certificates in
//! `proxy-config secret`: a certificate's serial, validity, subject CN and public key; a
//! private key's public half (PKCS#1, SEC1, PKCS#8). Envoy (BoringSSL) refuses RSA keys under
//! 2048 bits, EC curves other than P-256/P-384/P-521, and a key that does not match its
//! certificate; [`check_pair`] refuses the same, so a bad Secret costs one server its filter
//! chain instead of a NACK. Ed25519 keys without their public half cannot be compared
//! without doing the curve arithmetic, so they are accepted as they are.

use super::pem::{self, Block};

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const CONTEXT_0: u8 = 0xA0;
const CONTEXT_1: u8 = 0xA1;

const RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
const EC: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
const ED25519: &[u8] = &[0x2B, 0x65, 0x70];
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const CURVES: [(&[u8], &str); 3] = [
    (&[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07], "P-256"),
    (&[0x2B, 0x81, 0x04, 0x00, 0x22], "P-384"),
    (&[0x2B, 0x81, 0x04, 0x00, 0x23], "P-521"),
];

/// A DER reader over a sequence of TLVs.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn next(&mut self) -> Result<(u8, &'a [u8]), String> {
        let bad = || "malformed DER".to_string();
        let (&tag, rest) = self.0.split_first().ok_or_else(bad)?;
        let (&first, rest) = rest.split_first().ok_or_else(bad)?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7F);
            if n == 0 || n > 4 || rest.len() < n {
                return Err(bad());
            }
            (rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), &rest[n..])
        };
        if rest.len() < len {
            return Err(bad());
        }
        self.0 = &rest[len..];
        Ok((tag, &rest[..len]))
    }

    fn expect(&mut self, tag: u8) -> Result<&'a [u8], String> {
        match self.next()? {
            (t, content) if t == tag => Ok(content),
            (t, _) => Err(format!("malformed DER: tag {t:#04x} where {tag:#04x} was expected")),
        }
    }

    fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, String> {
        if self.0.first() == Some(&tag) { self.expect(tag).map(Some) } else { Ok(None) }
    }

    /// The content of the single `tag` element that makes up all of `der`.
    fn only(der: &'a [u8], tag: u8) -> Result<&'a [u8], String> {
        let mut d = Der(der);
        let content = d.expect(tag)?;
        if d.0.is_empty() { Ok(content) } else { Err("trailing data after DER".into()) }
    }
}

/// A public key, as far as matching and Envoy's rules need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA, by modulus (leading zeros stripped).
    Rsa(Vec<u8>),
    /// ECDSA: curve name and encoded point.
    Ec(&'static str, Vec<u8>),
    /// Ed25519 key bytes.
    Ed25519(Vec<u8>),
    /// Something Envoy does not serve with (the reason).
    Unsupported(String),
}

impl PublicKey {
    /// Envoy's rule for serving certificates: RSA ≥ 2048 bits, P-256/384/521, Ed25519.
    fn check(&self) -> Result<(), String> {
        match self {
            PublicKey::Rsa(m) if rsa_bits(m) < 2048 => {
                Err(format!("RSA key of {} bits; Envoy needs at least 2048", rsa_bits(m)))
            }
            PublicKey::Unsupported(why) => Err(why.clone()),
            _ => Ok(()),
        }
    }
}

fn rsa_bits(modulus: &[u8]) -> usize {
    modulus.first().map_or(0, |b| modulus.len() * 8 - b.leading_zeros() as usize)
}

fn strip_zeros(int: &[u8]) -> Vec<u8> {
    let i = int.iter().position(|b| *b != 0).unwrap_or(int.len());
    int[i..].to_vec()
}

fn bit_string(content: &[u8]) -> Result<&[u8], String> {
    match content.split_first() {
        Some((0, bits)) => Ok(bits),
        _ => Err("malformed DER bit string".into()),
    }
}

fn curve(oid: &[u8]) -> Option<&'static str> {
    CURVES.iter().find(|(o, _)| *o == oid).map(|(_, name)| *name)
}

/// `SubjectPublicKeyInfo` content → key.
fn spki(content: &[u8]) -> Result<PublicKey, String> {
    let mut d = Der(content);
    let mut alg = Der(d.expect(SEQUENCE)?);
    let oid = alg.expect(OID)?;
    let key = bit_string(d.expect(BIT_STRING)?)?;
    Ok(match oid {
        RSA => {
            let mut rsa = Der(Der::only(key, SEQUENCE)?);
            PublicKey::Rsa(strip_zeros(rsa.expect(INTEGER)?))
        }
        EC => match alg.optional(OID)?.and_then(curve) {
            Some(c) => PublicKey::Ec(c, key.to_vec()),
            None => PublicKey::Unsupported("EC curve other than P-256, P-384 or P-521".into()),
        },
        ED25519 => PublicKey::Ed25519(key.to_vec()),
        _ => PublicKey::Unsupported("public key algorithm other than RSA, ECDSA or Ed25519".into()),
    })
}

/// What a certificate says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// Serial number, lowercase hex without leading zeros.
    pub serial: String,
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
    /// The subject's common name, when it has one.
    pub common_name: Option<String>,
    /// The public key.
    pub key: PublicKey,
}

/// Parses one DER certificate.
pub fn certificate(der: &[u8]) -> Result<Certificate, String> {
    let mut outer = Der(Der::only(der, SEQUENCE)?);
    let mut tbs = Der(outer.expect(SEQUENCE)?);
    outer.expect(SEQUENCE)?;
    outer.expect(BIT_STRING)?;
    tbs.optional(CONTEXT_0)?;
    let serial = strip_zeros(tbs.expect(INTEGER)?);
    tbs.expect(SEQUENCE)?; // signature algorithm
    tbs.expect(SEQUENCE)?; // issuer
    let mut validity = Der(tbs.expect(SEQUENCE)?);
    let not_before = time(validity.next()?)?;
    let not_after = time(validity.next()?)?;
    let subject = tbs.expect(SEQUENCE)?;
    let key = spki(tbs.expect(SEQUENCE)?)?;
    let hex: String = serial.iter().map(|b| format!("{b:02x}")).collect();
    let serial = hex.trim_start_matches('0').to_string();
    Ok(Certificate {
        serial: if serial.is_empty() { "0".into() } else { serial },
        not_before,
        not_after,
        common_name: common_name(subject),
        key,
    })
}

/// The first CN of an RDN sequence.
fn common_name(subject: &[u8]) -> Option<String> {
    let mut rdns = Der(subject);
    while let Ok((_, set)) = rdns.next() {
        let mut atvs = Der(set);
        while let Ok((_, atv)) = atvs.next() {
            let mut atv = Der(atv);
            if atv.expect(OID).ok() == Some(COMMON_NAME) {
                return atv.next().ok().map(|(_, v)| String::from_utf8_lossy(v).into_owned());
            }
        }
    }
    None
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) → Unix seconds.
fn time((tag, v): (u8, &[u8])) -> Result<i64, String> {
    let s = std::str::from_utf8(v).map_err(|_| "malformed certificate time")?;
    let digits = s.strip_suffix('Z').filter(|d| d.bytes().all(|b| b.is_ascii_digit()));
    let num = |d: &str, r: std::ops::Range<usize>| d.get(r).and_then(|x| x.parse::<i64>().ok());
    let (year, rest) = match (tag, digits) {
        (0x17, Some(d)) if d.len() == 12 => {
            let yy = num(d, 0..2).unwrap_or_default();
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &d[2..])
        }
        (0x18, Some(d)) if d.len() == 14 => (num(d, 0..4).unwrap_or_default(), &d[4..]),
        _ => return Err(format!("unsupported certificate time {s:?}")),
    };
    let f = |i: usize| num(rest, i..i + 2).unwrap_or_default();
    Ok(days_from_civil(year, f(0), f(2)) * 86_400 + f(4) * 3600 + f(6) * 60 + f(8))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds → `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The public half a private key carries (`None` parts: not recorded in the key).
#[derive(Debug)]
enum KeyPublic {
    Rsa(Vec<u8>),
    Ec(Option<&'static str>, Option<Vec<u8>>),
    Ed25519(Option<Vec<u8>>),
}

fn pkcs1(der: &[u8]) -> Result<KeyPublic, String> {
    let mut d = Der(Der::only(der, SEQUENCE)?);
    d.expect(INTEGER)?;
    Ok(KeyPublic::Rsa(strip_zeros(d.expect(INTEGER)?)))
}

fn sec1(der: &[u8], curve_hint: Option<&'static str>) -> Result<KeyPublic, String> {
    let mut d = Der(Der::only(der, SEQUENCE)?);
    d.expect(INTEGER)?;
    d.expect(OCTET_STRING)?;
    let named = match d.optional(CONTEXT_0)? {
        Some(params) => Some(curve(Der::only(params, OID)?).ok_or("EC key on an unsupported curve")?),
        None => curve_hint,
    };
    let point = d.optional(CONTEXT_1)?.map(|p| Der::only(p, BIT_STRING).and_then(bit_string)).transpose()?;
    Ok(KeyPublic::Ec(named, point.map(<[u8]>::to_vec)))
}

fn pkcs8(der: &[u8]) -> Result<KeyPublic, String> {
    let mut d = Der(Der::only(der, SEQUENCE)?);
    d.expect(INTEGER)?;
    let mut alg = Der(d.expect(SEQUENCE)?);
    let oid = alg.expect(OID)?;
    let inner = d.expect(OCTET_STRING)?;
    match oid {
        RSA => pkcs1(inner),
        EC => {
            let hint = alg.optional(OID)?.map(|o| curve(o).ok_or("EC key on an unsupported curve")).transpose()?;
            sec1(inner, hint)
        }
        ED25519 => {
            d.optional(CONTEXT_0)?;
            let public = d.optional(0x81)?.map(|p| bit_string(p).map(<[u8]>::to_vec)).transpose()?;
            Ok(KeyPublic::Ed25519(public))
        }
        _ => Err("private key algorithm other than RSA, ECDSA or Ed25519".into()),
    }
}

fn private_key(block: &Block) -> Result<KeyPublic, String> {
    match block.label.as_str() {
        "PRIVATE KEY" => pkcs8(&block.der),
        "RSA PRIVATE KEY" => pkcs1(&block.der),
        "EC PRIVATE KEY" => sec1(&block.der, None),
        other => Err(format!("{other} is not a usable private key")),
    }
}

fn matches(cert: &PublicKey, key: &KeyPublic) -> bool {
    match (cert, key) {
        (PublicKey::Rsa(a), KeyPublic::Rsa(b)) => a == b,
        (PublicKey::Ec(c, p), KeyPublic::Ec(kc, kp)) => {
            kc.is_none_or(|k| k == *c) && kp.as_ref().is_none_or(|k| k == p)
        }
        (PublicKey::Ed25519(a), KeyPublic::Ed25519(b)) => b.as_ref().is_none_or(|b| b == a),
        _ => false,
    }
}

/// The certificates of a PEM chain (at least one; other blocks are skipped, as BoringSSL does).
pub fn certificates(pem_text: &[u8]) -> Result<Vec<Certificate>, String> {
    let certs: Vec<Certificate> = pem::blocks(pem_text)?
        .iter()
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| certificate(&b.der))
        .collect::<Result<_, _>>()?;
    if certs.is_empty() {
        return Err("no PEM certificate found".into());
    }
    Ok(certs)
}

/// Checks a certificate chain and its private key as Envoy would load them; returns the
/// leaf certificate.
pub fn check_pair(chain: &[u8], key: &[u8]) -> Result<Certificate, String> {
    let leaf = certificates(chain)?.swap_remove(0);
    leaf.key.check()?;
    let blocks = pem::blocks(key)?;
    let block = blocks
        .iter()
        .find(|b| b.label.ends_with("PRIVATE KEY"))
        .ok_or_else(|| "no PEM private key found".to_string())?;
    if !matches(&leaf.key, &private_key(block)?) {
        return Err("the private key does not match the certificate".into());
    }
    Ok(leaf)
}

/// Checks a PEM certificate revocation list (one or more `X509 CRL` blocks).
pub fn check_crl(pem_text: &[u8]) -> Result<(), String> {
    let blocks = pem::blocks(pem_text)?;
    let crls: Vec<&Block> = blocks.iter().filter(|b| b.label == "X509 CRL").collect();
    if crls.is_empty() {
        return Err("no PEM X509 CRL found".into());
    }
    for b in crls {
        let mut d = Der(Der::only(&b.der, SEQUENCE)?);
        d.expect(SEQUENCE)?;
        d.expect(SEQUENCE)?;
        d.expect(BIT_STRING)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 + 3661), "2000-02-29T01:01:01Z");
        assert_eq!(time((0x17, b"491231235959Z")), Ok(days_from_civil(2049, 12, 31) * 86_400 + 86_399));
        assert_eq!(time((0x18, b"19500101000000Z")), Ok(days_from_civil(1950, 1, 1) * 86_400));
        assert!(time((0x17, b"4912312359Z")).is_err());
    }

    #[test]
    fn der_lengths_are_checked() {
        assert!(Der::only(&[0x30, 0x03, 0x02, 0x01], SEQUENCE).is_err(), "short content");
        assert!(Der::only(&[0x30, 0x00, 0x00], SEQUENCE).is_err(), "trailing data");
        assert_eq!(Der::only(&[0x30, 0x81, 0x01, 0x05], SEQUENCE), Ok(&[0x05][..]));
        assert!(Der::only(&[0x30, 0x80], SEQUENCE).is_err(), "indefinite length");
    }
}
