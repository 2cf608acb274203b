//! Reusable checks in Istio's wording: DNS names and wildcard hosts, ports, percentages,
//! durations, RE2 regexes (compiled with size limits so a hostile pattern can neither hang nor
//! exhaust memory), label selectors, IPs and CIDRs, `exportTo` lists and SPIFFE identities.
//!
//! Functions named like a noun record issues through a [`Validator`] at its current path;
//! `is_*` functions are plain predicates.

use super::Validator;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Largest compiled program we accept for a user regex (bytes of the NFA/DFA). Envoy compiles
/// the same patterns with RE2; this bound keeps compile time and memory small.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Longest regex source accepted at all.
const REGEX_MAX_LEN: usize = 16 * 1024;

/// True for an RFC 1123 label as Istio accepts it (`[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?`, ≤ 63).
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// True for a lowercase Kubernetes DNS-1123 label (namespace names).
pub fn is_k8s_dns1123_label(s: &str) -> bool {
    is_dns1123_label(s) && !s.bytes().any(|c| c.is_ascii_uppercase())
}

/// True for a lowercase DNS-1123 subdomain (resource names, API groups).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    // Kubernetes' subdomain regex puts no 63-character limit on each label, only 253 overall.
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    };
    s.len() <= 253 && s.split('.').all(label_ok)
}

/// True for a Kubernetes kind name (`^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`).
pub fn is_kind_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

fn dns_preconditions(name: &str) -> Result<(), String> {
    if name.len() > 255 {
        return Err(format!("domain name {name:?} too long (max 255)"));
    }
    if name.is_empty() {
        return Err("empty domain name not allowed".into());
    }
    Ok(())
}

fn dns_labels(domain: &str) -> Result<(), String> {
    let trimmed = domain.strip_suffix('.').unwrap_or(domain);
    for label in trimmed.split('.') {
        if !is_dns1123_label(label) {
            return Err(format!("domain name {domain:?} invalid (label {label:?} invalid)"));
        }
    }
    Ok(())
}

/// Istio `ValidateFQDN`: a DNS name with no wildcard.
pub fn check_fqdn(name: &str) -> Result<(), String> {
    dns_preconditions(name)?;
    dns_labels(name)
}

/// Istio `ValidateWildcardDomain`: a DNS name whose first label may be `*` or `*suffix`.
pub fn check_wildcard_domain(domain: &str) -> Result<(), String> {
    dns_preconditions(domain)?;
    let (first, rest) = match domain.split_once('.') {
        Some((f, r)) => (f, Some(r)),
        None => (domain, None),
    };
    let first_ok = if let Some(stripped) = first.strip_prefix('*') {
        stripped.is_empty()
            || is_dns1123_label(stripped)
            || stripped.starts_with('-') && is_dns1123_label(&stripped[1..])
    } else {
        is_dns1123_label(first)
    };
    if !first_ok {
        return Err(format!("domain name {domain:?} invalid (label {first:?} invalid)"));
    }
    match rest {
        Some(rest) if !rest.is_empty() => dns_labels(rest).map_err(|_| {
            let bad = rest.split('.').find(|l| !is_dns1123_label(l)).unwrap_or(rest);
            format!("domain name {domain:?} invalid (label {bad:?} invalid)")
        }),
        _ => Ok(()),
    }
}

/// Records an error unless `host` is a valid (possibly wildcard) domain.
pub fn wildcard_domain(v: &mut Validator<'_>, host: &str) {
    if let Err(e) = check_wildcard_domain(host) {
        v.error(e);
    }
}

/// Records an error unless `port` is in 1..=65535.
pub fn port(v: &mut Validator<'_>, port: u32) {
    if !(1..=65535).contains(&port) {
        v.error(format!("port must be between 1-65535, got {port}"));
    }
}

/// Records an error unless `p` is a percentage in [0, 100].
pub fn percentage(v: &mut Validator<'_>, p: f64) {
    if !(0.0..=100.0).contains(&p) || p.is_nan() {
        v.error(format!("percentage {p} is out of range [0..100]"));
    }
}

/// Records an error unless `d` is at least `min`.
pub fn duration_at_least(v: &mut Validator<'_>, d: crate::types::Duration, min: std::time::Duration) {
    if d.get() < min {
        v.error(format!("duration must be at least {}, got {d}", crate::types::Duration(min)));
    }
}

/// Compiles `pattern` as Envoy would use it (RE2 syntax, whole-string match) under size limits.
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > REGEX_MAX_LEN {
        return Err(format!("regex is {} bytes long; the limit is {REGEX_MAX_LEN}", pattern.len()));
    }
    re2_repetition_limit(pattern)?;
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(64)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => {
                format!("regex {pattern:?} is too large: compiled program exceeds {limit} bytes")
            }
            other => format!("{pattern:?} is not a valid RE2 regex: {}", one_line(&other.to_string())),
        })
}

/// RE2 (Envoy's engine, and Go's regexp behind Istio's webhook) refuses a repetition count
/// above 1000, also as the product of nested repetitions; Rust's regex only caps compiled size,
/// so without this check Envoy would NACK what we accept.
fn re2_repetition_limit(pattern: &str) -> Result<(), String> {
    use regex_syntax::ast::{Ast, RepetitionKind, RepetitionRange};
    const MAX: u64 = 1000;
    let ast = regex_syntax::ast::parse::ParserBuilder::new()
        .nest_limit(64)
        .build()
        .parse(pattern)
        .map_err(|e| format!("{pattern:?} is not a valid RE2 regex: {}", one_line(&e.to_string())))?;
    let mut stack: Vec<(&Ast, u64)> = vec![(&ast, 1)];
    while let Some((node, product)) = stack.pop() {
        match node {
            Ast::Repetition(r) => {
                let n = match &r.op.kind {
                    RepetitionKind::Range(
                        RepetitionRange::Exactly(n) | RepetitionRange::AtLeast(n) | RepetitionRange::Bounded(_, n),
                    ) => u64::from(*n),
                    _ => 1,
                };
                let total = product.saturating_mul(n.max(1));
                if n > MAX || total > MAX {
                    return Err(format!(
                        "{pattern:?} is not a valid RE2 regex: invalid repetition size (RE2, which Envoy uses, allows at most {MAX}, nested repetitions multiplied)"
                    ));
                }
                stack.push((&r.ast, total));
            }
            Ast::Group(g) => stack.push((&g.ast, product)),
            Ast::Alternation(a) => stack.extend(a.asts.iter().map(|x| (x, product))),
            Ast::Concat(c) => stack.extend(c.asts.iter().map(|x| (x, product))),
            _ => {}
        }
    }
    Ok(())
}

fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Records an error unless `pattern` compiles (see [`compile_regex`]).
pub fn regex(v: &mut Validator<'_>, pattern: &str) {
    if pattern.is_empty() {
        v.error("regex match must not be empty");
    } else if let Err(e) = compile_regex(pattern) {
        v.error(e);
    }
}

/// True for a Kubernetes label key (`[prefix/]name`).
pub fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    prefix.is_none_or(|p| !p.is_empty() && is_dns1123_subdomain(p)) && is_label_value(name) && !name.is_empty()
}

/// True for a Kubernetes label value (≤ 63, alphanumerics with `-_.` inside).
pub fn is_label_value(value: &str) -> bool {
    let b = value.as_bytes();
    b.is_empty()
        || (b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')))
}

/// Validates selector labels: valid keys and values, and no wildcards (Istio's wording).
pub fn selector_labels(v: &mut Validator<'_>, labels: &BTreeMap<String, String>) {
    for (key, value) in labels {
        v.key(key, |v| {
            if key.contains('*') {
                v.error("wildcard not allowed in label key match");
            } else if key.is_empty() {
                v.error("key must not be empty");
            } else if !is_label_key(key) {
                v.error(format!("invalid label key {key:?}: must be [prefix/]name with alphanumerics, '-', '_' or '.'"));
            }
            if value.contains('*') {
                v.error("wildcard not allowed in label value match");
            } else if !is_label_value(value) {
                v.error(format!("invalid label value {value:?}: at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"));
            }
        });
    }
}

/// Parses an IP address or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`).
pub fn parse_ip_or_cidr(s: &str) -> Result<(IpAddr, Option<u8>), String> {
    let (ip, len) = match s.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (s, None),
    };
    let addr: IpAddr = ip.parse().map_err(|_| format!("{s:?} is not a valid IP address or CIDR block"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => None,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => Some(n),
            _ => return Err(format!("{s:?} is not a valid CIDR block: prefix length must be 0-{max}")),
        },
    };
    Ok((addr, len))
}

/// Records an error unless `s` is an IP or CIDR.
pub fn ip_or_cidr(v: &mut Validator<'_>, s: &str) {
    if let Err(e) = parse_ip_or_cidr(s) {
        v.error(e);
    }
}

/// Validates an `exportTo` list (Istio `validateExportTo`): `.`, `*`, `~` (ServiceEntry and
/// Service only) or namespace names; `*` and `~` stand alone; no duplicates.
pub fn export_to(v: &mut Validator<'_>, list: &[String], allow_none: bool) {
    let mut seen = BTreeSet::new();
    let ns = v.ctx.namespace.clone();
    v.field("exportTo", |v| {
        for (i, e) in list.iter().enumerate() {
            v.index(i, |v| {
                let canonical = if e == "." { ns.as_str() } else { e.as_str() };
                if !seen.insert(canonical.to_string()) {
                    v.error(format!("duplicate entries in exportTo: {e}"));
                }
                match e.as_str() {
                    "." | "*" => {}
                    "~" if allow_none => {}
                    "~" => v.error("exportTo ~ (private to none) is only allowed on ServiceEntry"),
                    other if is_k8s_dns1123_label(other) => {}
                    other => v.error(format!("only .(current namespace), *(all namespaces) or a namespace name may be used in exportTo, got {other:?}")),
                }
            });
        }
        if list.len() > 1 && list.iter().any(|e| e == "*") {
            v.error("cannot have both public (*) and non-public exportTo values for a resource");
        }
        if list.len() > 1 && list.iter().any(|e| e == "~") {
            v.error("cannot export to none (~) together with other namespaces");
        }
    });
}

/// Parses `spiffe://trust.domain/path` into (trust domain, path); Istio principals elsewhere
/// omit the scheme (`cluster.local/ns/foo/sa/bar`).
pub fn parse_spiffe_id(id: &str) -> Result<(&str, &str), String> {
    let rest = id.strip_prefix("spiffe://").ok_or_else(|| format!("SPIFFE ID {id:?} must start with spiffe://"))?;
    let (td, path) = rest.split_once('/').unwrap_or((rest, ""));
    if td.is_empty()
        || !td.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'_'))
    {
        return Err(format!("SPIFFE ID {id:?} has an invalid trust domain {td:?}"));
    }
    if !path.is_empty() && path.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return Err(format!("SPIFFE ID {id:?} has an invalid path"));
    }
    Ok((td, path))
}

/// True for an HTTP header name token (RFC 7230 tchar), as Envoy requires.
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

// ---- Kubernetes OpenAPI schema wording and security-policy scope (used by the security kinds) ----

/// Records the API server's `minLength: 1` error for an empty string, in its wording
/// (`Invalid value: "": <path> in body should be at least 1 chars long`), so text users know
/// from `kubectl apply` is found verbatim.
pub fn non_empty(v: &mut Validator<'_>, value: &str) {
    if value.is_empty() {
        let path = v.path().to_string();
        v.error(format!("Invalid value: \"\": {path} in body should be at least 1 chars long"));
    }
}

/// Records the API server's `maxItems` error when a list holds more than `max` entries.
pub fn max_items(v: &mut Validator<'_>, len: usize, max: usize) {
    if len > max {
        v.error(format!("Too many: {len}: must have at most {max} items"));
    }
}

/// Records the API server's `maxLength` error when `value` is longer than `max` bytes.
pub fn max_length(v: &mut Validator<'_>, value: &str, max: usize) {
    if value.len() > max {
        v.error(format!("Too long: may not be more than {max} bytes (got {})", value.len()));
    }
}

/// Target kinds a security policy's `targetRef(s)` may name: (canonical group, kind). Istio's
/// `validatePolicyTargetReference` treats an empty group as `core`.
const POLICY_TARGET_KINDS: &[(&str, &str)] = &[
    ("core", "Service"),
    ("networking.istio.io", "ServiceEntry"),
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "GatewayClass"),
];

fn policy_target_kind(v: &mut Validator<'_>, target: &crate::types::PolicyTargetReference) {
    let group = if target.group.is_empty() { "core" } else { target.group.as_str() };
    if target.kind.is_empty() || POLICY_TARGET_KINDS.contains(&(group, target.kind.as_str())) {
        return;
    }
    let allowed: Vec<String> = POLICY_TARGET_KINDS.iter().map(|(g, k)| format!("{g}/{k}")).collect();
    v.error_at(
        "kind",
        format!("targetRef must be to one of [{}] but was {}/{}", allowed.join(", "), target.group, target.kind),
    );
}

/// Validates where a security policy (AuthorizationPolicy, RequestAuthentication, …) applies:
/// at most one of `selector`, `targetRef` and `targetRefs` (the CRD's CEL rule), the selector's
/// labels (with Istio's warning for a selector without labels), and each target reference
/// (required fields, syntax, same namespace, supported kinds, at most 16 `targetRefs`).
pub fn policy_scope(
    v: &mut Validator<'_>,
    selector: Option<&crate::types::LabelSelector>,
    target_ref: Option<&crate::types::PolicyTargetReference>,
    target_refs: &[crate::types::PolicyTargetReference],
) {
    use super::Validate;
    let set =
        usize::from(selector.is_some()) + usize::from(target_ref.is_some()) + usize::from(!target_refs.is_empty());
    if set > 1 {
        v.error("only one of targetRefs or selector can be set");
    }
    if let Some(selector) = selector {
        v.field("selector", |v| {
            selector.validate(v);
            if selector.match_labels.is_empty() {
                v.warn("workload selector specified without labels");
            }
            if selector.match_labels.len() > 4096 {
                v.field("matchLabels", |v| {
                    let path = v.path().to_string();
                    v.error(format!("{path} in body should have at most 4096 properties"));
                });
            }
        });
    }
    if let Some(target) = target_ref {
        v.field("targetRef", |v| {
            target.validate(v);
            policy_target_kind(v, target);
        });
    }
    v.field("targetRefs", |v| max_items(v, target_refs.len(), 16));
    v.each("targetRefs", target_refs, |v, target| {
        target.validate(v);
        policy_target_kind(v, target);
    });
}

// ---- Istio host and label rules, and OpenAPI/CEL wording (used by DestinationRule, ServiceEntry,
// ---- WorkloadEntry and WorkloadGroup) ----

/// Istio rejects an all-numeric top-level label (`foo.123`, `1.2.3.4`): such a name can only be
/// a mistyped or misplaced IP address. A wildcard domain's first label is checked on its own, so
/// there only names with a dot count.
fn numeric_tld_err(domain: &str, single_label_too: bool) -> Result<(), String> {
    let tld = domain.rsplit('.').next().unwrap_or(domain);
    if (single_label_too || domain.contains('.')) && !tld.is_empty() && tld.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("domain name {domain:?} invalid (top level domain {tld:?} cannot be all-numeric)"));
    }
    Ok(())
}

/// Istio `ValidateWildcardDomain` in full: [`check_wildcard_domain`] plus Istio's refusal of an
/// all-numeric top-level label, so IP addresses are not accepted as host names.
pub fn check_wildcard_domain_strict(domain: &str) -> Result<(), String> {
    check_wildcard_domain(domain)?;
    numeric_tld_err(domain, false)
}

/// Istio `ValidateFQDN` in full: [`check_fqdn`] plus the all-numeric top-level label check.
pub fn check_fqdn_strict(name: &str) -> Result<(), String> {
    check_fqdn(name)?;
    numeric_tld_err(name, true)
}

/// Istio `labels.Instance.Validate` (subset labels, WorkloadEntry labels, WorkloadGroup
/// metadata labels): Kubernetes label keys and values, in Istio's "tag" wording, at `[key]`.
pub fn tag_labels(v: &mut Validator<'_>, labels: &BTreeMap<String, String>) {
    for (key, value) in labels {
        v.key(key, |v| {
            if !is_label_key(key) {
                v.error(format!("invalid tag key: {key:?}"));
            }
            if !is_label_value(value) {
                v.error(format!("invalid tag value: {value:?}"));
            }
        });
    }
}

/// Records the API server's `minimum`/`maximum` schema error when `value` lies outside
/// `[min, max]` (either bound optional), in its wording:
/// `Invalid value: 150: <path> in body should be less than or equal to 100`.
pub fn openapi_range<T: PartialOrd + std::fmt::Display>(
    v: &mut Validator<'_>,
    value: T,
    min: Option<T>,
    max: Option<T>,
) {
    let path = v.path().to_string();
    if let Some(min) = min.filter(|m| value < *m) {
        v.error(format!("Invalid value: {value}: {path} in body should be greater than or equal to {min}"));
    } else if let Some(max) = max.filter(|m| value > *m) {
        v.error(format!("Invalid value: {value}: {path} in body should be less than or equal to {max}"));
    }
}

/// Records the API server's `pattern` schema error for `value`, in its wording:
/// `Invalid value: "**": <path> in body should match '<pattern>'`.
pub fn openapi_pattern_mismatch(v: &mut Validator<'_>, value: &str, pattern: &str) {
    let path = v.path().to_string();
    v.error(format!("Invalid value: {value:?}: {path} in body should match '{pattern}'"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_domains() {
        for ok in ["*", "*.foo.com", "foo.com", "reviews", "*foo.com", "a-b.c", "foo.com."] {
            assert_eq!(check_wildcard_domain(ok), Ok(()), "{ok}");
        }
        for bad in ["", "foo.*.com", "foo..com", "-a.com", "fo_o.com", "foo*.com"] {
            assert!(check_wildcard_domain(bad).is_err(), "{bad}");
        }
        assert!(check_fqdn("*.foo.com").is_err());
    }

    #[test]
    fn regex_limits() {
        assert!(compile_regex("^(.*?;)?(user=dev-123)(;.*)?").is_ok());
        assert!(compile_regex("(a").is_err());
        assert!(compile_regex("(?=x)").is_err(), "lookahead is not RE2");
        assert!(compile_regex("/[a-z]{1000}").is_ok());
        assert!(compile_regex("/[a-z]{1001}").unwrap_err().contains("invalid repetition size"));
        assert!(compile_regex("(?:(?:a{20}){20}){3}").unwrap_err().contains("invalid repetition size"));
        assert!(compile_regex("(?:a{10}){100}").is_ok());
        let err = compile_regex("((a{100}){100}){100}").unwrap_err();
        assert!(err.contains("invalid repetition size"), "{err}");
        // Within RE2's repetition limit but huge once compiled (Unicode classes): refused by size.
        let err = compile_regex(r"\pL{1000}").unwrap_err();
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn labels_and_cidrs() {
        assert!(is_label_key("app.kubernetes.io/name"));
        assert!(!is_label_key("/x"));
        assert!(is_label_value(""));
        assert!(!is_label_value("-a"));
        assert!(parse_ip_or_cidr("10.0.0.0/8").is_ok());
        assert!(parse_ip_or_cidr("1.2.3.4/99").is_err());
        assert!(parse_ip_or_cidr("::1").is_ok());
        assert!(parse_spiffe_id("spiffe://cluster.local/ns/a/sa/b").is_ok());
        assert!(parse_spiffe_id("cluster.local/ns/a").is_err());
    }
}
