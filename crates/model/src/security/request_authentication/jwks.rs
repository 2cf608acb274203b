//! Checks on where a JWT rule's keys come from: `jwksUri` (the CRD's length and scheme rules,
//! plus what Istio's `ParseJwksURI` and Go's URL parser refuse) and inline `jwks` (a JSON Web
//! Key Set or single key that must parse, with Istio's warning for private key material).

use crate::validation::{Validator, rules};
use serde_json::Value;

/// Longest `jwksUri` the CRD accepts.
const MAX_URI_LEN: usize = 2048;

/// Validates a `jwksUri` value at the validator's current path.
pub(super) fn uri(v: &mut Validator<'_>, uri: &str) {
    rules::non_empty(v, uri);
    rules::max_length(v, uri, MAX_URI_LEN);
    if uri.is_empty() {
        return;
    }
    let Some((scheme, rest)) = split_scheme(uri) else {
        v.error(format!("url must have scheme http:// or https://, got {uri:?}"));
        return;
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        v.error(format!("url must have scheme http:// or https:// (URI scheme {scheme:?} is not supported)"));
        return;
    }
    if uri.bytes().any(|b| b < 0x20 || b == 0x7f) {
        v.error(format!("invalid control character in URL {uri:?}"));
        return;
    }
    let Some(after) = rest.strip_prefix("//") else {
        v.warn(format!("jwksUri {uri:?} has no host, so the JWKS cannot be fetched"));
        return;
    };
    let authority = after.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = split_host_port(host_port);
    if host.is_empty() {
        v.warn(format!("jwksUri {uri:?} has no host, so the JWKS cannot be fetched"));
    }
    if let Some(port) = port
        && !port.is_empty()
        && !port.bytes().all(|b| b.is_ascii_digit())
    {
        v.error(format!("invalid port {:?} after host", format!(":{port}")));
    } else if let Some(p) = port.and_then(|p| p.parse::<u32>().ok())
        && !(1..=65535).contains(&p)
    {
        v.error(format!("port must be between 1-65535, got {p}"));
    }
}

/// `scheme:rest` when `uri` starts with an RFC 3986 scheme.
fn split_scheme(uri: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = uri.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    (first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))).then_some((scheme, rest))
}

/// Splits `host[:port]`, keeping an IPv6 literal's brackets out of the port.
fn split_host_port(host_port: &str) -> (&str, Option<&str>) {
    if let Some(inner) = host_port.strip_prefix('[') {
        return match inner.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (inner, None),
        };
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host_port, None),
    }
}

/// Members a public key of each `kty` must carry (RFC 7518).
fn required_members(kty: &str) -> Option<&'static [&'static str]> {
    Some(match kty {
        "RSA" => &["n", "e"],
        "EC" => &["crv", "x", "y"],
        "OKP" => &["crv", "x"],
        "oct" => &["k"],
        _ => return None,
    })
}

/// Parses one JWK; returns whether it holds private (or symmetric) key material.
fn parse_key(key: &Value) -> Result<bool, String> {
    let Value::Object(members) = key else { return Err("a key must be a JSON object".into()) };
    let kty = members.get("kty").and_then(Value::as_str).ok_or("a key must have a string \"kty\"")?;
    let required = required_members(kty).ok_or_else(|| format!("unsupported key type {kty:?}"))?;
    if let Some(missing) = required.iter().find(|m| !members.get(**m).is_some_and(Value::is_string)) {
        return Err(format!("{kty} key is missing required member {missing:?}"));
    }
    Ok(kty == "oct" || members.contains_key("d"))
}

/// Validates an inline `jwks` value at the validator's current path: a key set
/// (`{"keys": [...]}`) or a single key, as Istio's JWK parser accepts.
pub(super) fn inline(v: &mut Validator<'_>, jwks: &str) {
    let parsed: Value = match serde_json::from_str(jwks) {
        Ok(value) => value,
        Err(e) => return v.error(format!("jwks parse error: {e}")),
    };
    let keys: Vec<&Value> = match parsed.get("keys") {
        Some(Value::Array(keys)) => keys.iter().collect(),
        Some(_) => return v.error("jwks parse error: \"keys\" must be an array"),
        None => vec![&parsed],
    };
    for (i, key) in keys.iter().enumerate() {
        match parse_key(key) {
            Err(e) => v.error(format!("jwks parse error: key at index {i}: {e}")),
            Ok(true) => v.warn(format!(
                "jwks key at index {i} contains private key material; only public keys are used for verification"
            )),
            Ok(false) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::{Context, Severity};

    fn run(f: impl FnOnce(&mut Validator<'_>)) -> Vec<(Severity, String)> {
        let ctx = Context::default();
        let mut v = Validator::new(&ctx, crate::FieldPath::root().field("jwksUri"));
        f(&mut v);
        v.into_issues().into_iter().map(|i| (i.severity, i.message)).collect()
    }

    #[test]
    fn uris() {
        for ok in ["https://example.com/.well-known/jwks.json", "HTTP://[::1]:8080/k", "http://u@h:80"] {
            assert!(run(|v| uri(v, ok)).is_empty(), "{ok}");
        }
        assert!(run(|v| uri(v, "hTPp\\\u{8}lah"))[0].1.starts_with("url must have scheme http:// or https://"));
        assert!(run(|v| uri(v, "ftp://x/"))[0].1.contains("\"ftp\" is not supported"));
        assert!(run(|v| uri(v, "https://x:port/"))[0].1.contains("invalid port"));
        assert_eq!(run(|v| uri(v, "https:///keys"))[0].0, Severity::Warning);
    }

    #[test]
    fn inline_sets() {
        let public = r#"{"keys":[{"kty":"RSA","e":"AQAB","n":"xyz"}]}"#;
        assert!(run(|v| inline(v, public)).is_empty());
        let private = r#"{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}"#;
        assert_eq!(run(|v| inline(v, private))[0].0, Severity::Warning);
        assert!(run(|v| inline(v, "{not json"))[0].1.starts_with("jwks parse error"));
        assert!(run(|v| inline(v, r#"{"keys":[{"kty":"RSA","e":"AQAB"}]}"#))[0].1.contains("\"n\""));
    }
}
