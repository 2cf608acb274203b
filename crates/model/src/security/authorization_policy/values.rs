//! Checks on the string lists of an AuthorizationPolicy (`principals`, `ipBlocks`, `ports`,
//! condition values, …), shared by sources, operations and conditions. Each check judges one
//! value and returns Istio's message (from `pkg/config/security`), so the caller can report
//! it at the value's own index and, for conditions, prefix it the way Istio does.

use crate::validation::{Validator, rules};

/// Runs `check` on every value and records each failure at the value's index, prefixed with
/// `prefix`.
pub(super) fn each_value(
    v: &mut Validator<'_>,
    values: &[String],
    prefix: &str,
    check: impl Fn(&str) -> Result<(), String>,
) {
    for (i, value) in values.iter().enumerate() {
        if let Err(e) = check(value) {
            v.index(i, |v| v.error(format!("{prefix}{e}")));
        }
    }
}

/// The field's name as Istio's messages spell it (`ipBlocks` → `IpBlocks`).
pub(super) fn go_name(field: &str) -> String {
    let mut chars = field.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// Istio `CheckEmptyValues` for one value.
pub(super) fn not_empty(key: &str, value: &str) -> Result<(), String> {
    if value.is_empty() { Err(format!("empty value not allowed, found in {key}")) } else { Ok(()) }
}

/// Istio `CheckWildcardValues` for one value: exact, `prefix*`, `*suffix` or `*`.
pub(super) fn wildcard(key: &str, value: &str) -> Result<(), String> {
    not_empty(key, value)?;
    match value.matches('*').count() {
        0 => Ok(()),
        1 if value.starts_with('*') || value.ends_with('*') => Ok(()),
        1 => Err(format!("wildcard is only allowed at the start or end, found in {key}: {value:?}")),
        _ => Err(format!("at most one wildcard is allowed, found in {key}: {value:?}")),
    }
}

/// Istio `CheckTrustDomainValues` for one value: a wildcard value without `/`.
pub(super) fn trust_domain(key: &str, value: &str) -> Result<(), String> {
    wildcard(key, value)?;
    if value.contains('/') {
        return Err(format!("trust domain must not contain '/', found in {key}: {value:?}"));
    }
    Ok(())
}

/// Longest service account value the CRD accepts.
const MAX_SERVICE_ACCOUNT_LEN: usize = 320;
/// Most service accounts per list (Istio's and the CRD's bound on configuration size).
pub(super) const MAX_SERVICE_ACCOUNTS: usize = 16;

/// Istio `CheckServiceAccount` for one value: `sa` or `namespace/sa`, no wildcard.
pub(super) fn service_account(key: &str, value: &str) -> Result<(), String> {
    not_empty(key, value)?;
    let format = "expected format 'serviceAccount' or 'namespace/serviceAccount'";
    if value.contains('*') {
        return Err(format!("wildcard not allowed, found in {key}"));
    }
    if value.matches('/').count() > 1 {
        return Err(format!("{format}, found {value:?} in {key}"));
    }
    if value.len() > MAX_SERVICE_ACCOUNT_LEN {
        return Err(format!("value cannot exceed 320 characters, found {value:?} in {key}"));
    }
    match value.split_once('/') {
        Some(("", _)) => Err(format!("{format}, found empty namespace {value:?} in {key}")),
        Some((_, "")) => Err(format!("{format}, found empty serviceAccount {value:?} in {key}")),
        _ => Ok(()),
    }
}

/// Istio `ValidateIPs` for one value: an IP address or, with `/`, a CIDR range.
pub(super) fn ip_block(_key: &str, value: &str) -> Result<(), String> {
    match rules::parse_ip_or_cidr(value) {
        Ok(_) => Ok(()),
        Err(e) if value.contains('/') => Err(format!("bad CIDR range ({value}): {e}")),
        Err(_) => Err(format!("bad IP address ({value})")),
    }
}

/// Istio `ValidatePorts` for one value: a decimal number up to 65535. (Istio lets `0`
/// through; [`port_warnings`] flags it.)
pub(super) fn port(_key: &str, value: &str) -> Result<(), String> {
    let number = value.bytes().all(|b| b.is_ascii_digit()).then(|| value.parse::<u32>().ok()).flatten();
    match number {
        Some(p) if p <= 65535 => Ok(()),
        _ => Err(format!("bad port ({value}): port must be between 1-65535")),
    }
}

/// Warns about port `0`, which Istio accepts but no connection ever has.
pub(super) fn port_warnings(v: &mut Validator<'_>, values: &[String]) {
    for (i, value) in values.iter().enumerate() {
        if !value.is_empty() && value.bytes().all(|b| b == b'0') {
            v.index(i, |v| v.warn("port must be between 1-65535; port 0 never matches"));
        }
    }
}

/// Warns about values whose `*` is neither a prefix, a suffix nor the whole value: Istio's
/// string matchers then compare the `*` literally, which is almost never what was meant.
pub(super) fn literal_wildcard_warnings(v: &mut Validator<'_>, values: &[String]) {
    for (i, value) in values.iter().enumerate() {
        let inner = value.strip_prefix('*').unwrap_or(value);
        let inner = inner.strip_suffix('*').unwrap_or(inner);
        if value != "*" && inner.contains('*') {
            v.index(i, |v| {
                v.warn(format!(
                    "wildcard is only supported at the start or end of a value (or `*` alone); the '*' in {value:?} is matched literally"
                ))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_checks() {
        assert_eq!(go_name("notIpBlocks"), "NotIpBlocks");
        assert!(wildcard("K", "a*").is_ok() && wildcard("K", "*").is_ok());
        assert!(wildcard("K", "a*b").unwrap_err().contains("only allowed at the start or end"));
        assert!(wildcard("K", "*a*").unwrap_err().contains("at most one wildcard"));
        assert!(trust_domain("K", "td/x").unwrap_err().contains("must not contain '/'"));
        assert!(service_account("K", "ns/sa").is_ok() && service_account("K", "sa").is_ok());
        assert!(service_account("K", "/sa").unwrap_err().contains("empty namespace"));
        assert!(service_account("K", "a/b/c").unwrap_err().contains("expected format"));
        assert!(service_account("K", "a*").unwrap_err().contains("wildcard not allowed"));
        assert_eq!(ip_block("K", "1.2.3"), Err("bad IP address (1.2.3)".into()));
        assert!(ip_block("K", "1.2.3.0/33").unwrap_err().starts_with("bad CIDR range (1.2.3.0/33)"));
        assert!(port("K", "65535").is_ok() && port("K", "0").is_ok());
        assert!(port("K", "65536").is_err() && port("K", "+80").is_err() && port("K", "http").is_err());
    }
}
