//! PEM blocks (`-----BEGIN LABEL-----` … `-----END LABEL-----`) to DER, with the standard
//! base64 alphabet. Text between blocks is ignored, as BoringSSL ignores it. Blocks with
//! headers (`Proc-Type: 4,ENCRYPTED`) are refused: Envoy has no passphrase to open them.

/// One decoded block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The label (`CERTIFICATE`, `PRIVATE KEY`, …).
    pub label: String,
    /// The DER bytes.
    pub der: Vec<u8>,
}

/// Every block in `text`, in order; an error names the first broken one.
pub fn blocks(text: &[u8]) -> Result<Vec<Block>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "not PEM text (invalid UTF-8)".to_string())?;
    let mut out = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) else { continue };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            if l == end {
                closed = true;
                break;
            }
            if l.contains(':') {
                return Err(format!("PEM block {label} has headers (an encrypted key?)"));
            }
            body.push_str(l);
        }
        if !closed {
            return Err(format!("PEM block {label} has no END line"));
        }
        let der = base64(&body).ok_or_else(|| format!("PEM block {label} is not valid base64"))?;
        out.push(Block { label: label.to_string(), der });
    }
    Ok(out)
}

/// Standard base64 with optional padding; whitespace is skipped. `None` when malformed.
pub fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits, mut padding) = (0u32, 0u32, 0usize);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padding += 1;
                continue;
            }
            _ => return None,
        };
        if padding > 0 {
            return None; // data after padding
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (padding <= 2 && bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_known_values() {
        assert_eq!(base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64("aGVs\nbG8h"), Some(b"hello!".to_vec()));
        assert_eq!(base64("aGk"), Some(b"hi".to_vec()));
        assert_eq!(base64("a$=="), None);
        assert_eq!(base64("aGk=x"), None);
    }

    #[test]
    fn blocks_and_errors() {
        let text = b"junk\n-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\nmore\n";
        assert_eq!(blocks(text), Ok(vec![Block { label: "CERTIFICATE".into(), der: b"hello".to_vec() }]));
        assert!(blocks(b"-----BEGIN X-----\naGVsbG8=\n").unwrap_err().contains("no END"));
        let enc = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n-----END RSA PRIVATE KEY-----\n";
        assert!(blocks(enc).unwrap_err().contains("headers"));
        assert_eq!(blocks(b"no pem here"), Ok(vec![]));
    }
}
