//! A route's hash policy (Envoy's `HashPolicyImpl`): what request key a ring-hash or Maglev
//! cluster hashes — a header (values sorted, so their order does not matter), a cookie (made
//! up and set on the response when absent and the policy has a TTL, as Envoy does), the source
//! IP, or a query parameter — each hashed with xxHash64 and combined by rotate-and-xor, a
//! terminal policy ending the list once it produced a hash. Compiled once with the route;
//! evaluated once per request.

use super::xxhash::xxh64;
use crate::config::{ConfigError, Result, duration};
use envoy_types::pb::envoy::config::route::v3::route_action::{HashPolicy as EnvoyHashPolicy, hash_policy};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::net::SocketAddr;
use std::time::Duration;

/// One compiled hash policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashPolicy {
    method: Method,
    terminal: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Method {
    Header(HeaderName),
    Cookie { name: String, path: String, ttl: Option<Duration> },
    SourceIp,
    QueryParameter(String),
}

/// Compiles a route's `hash_policy` list.
pub fn compile(policies: &[EnvoyHashPolicy]) -> Result<Vec<HashPolicy>> {
    use hash_policy::PolicySpecifier;
    let mut out = Vec::new();
    for (i, p) in policies.iter().enumerate() {
        let at = |e: ConfigError| e.within(format!("[{i}]"));
        let method = match &p.policy_specifier {
            Some(PolicySpecifier::Header(h)) => {
                if h.regex_rewrite.is_some() {
                    return Err(at(ConfigError::unsupported("header.regex_rewrite")));
                }
                let name = HeaderName::from_bytes(h.header_name.to_ascii_lowercase().as_bytes())
                    .map_err(|_| at(ConfigError::new("header.header_name", "invalid header name")))?;
                Method::Header(name)
            }
            Some(PolicySpecifier::Cookie(c)) => {
                if !c.attributes.is_empty() {
                    return Err(at(ConfigError::unsupported("cookie.attributes")));
                }
                // Envoy keeps whole seconds of the TTL.
                let ttl = duration("cookie.ttl", c.ttl.as_ref()).map_err(at)?.map(|d| Duration::from_secs(d.as_secs()));
                Method::Cookie { name: c.name.clone(), path: c.path.clone(), ttl }
            }
            // Envoy ignores connection properties without `source_ip`.
            Some(PolicySpecifier::ConnectionProperties(c)) if !c.source_ip => continue,
            Some(PolicySpecifier::ConnectionProperties(_)) => Method::SourceIp,
            Some(PolicySpecifier::QueryParameter(q)) => Method::QueryParameter(q.name.clone()),
            Some(PolicySpecifier::FilterState(_)) => return Err(at(ConfigError::unsupported("filter_state"))),
            None => return Err(at(ConfigError::new("policy_specifier", "required"))),
        };
        out.push(HashPolicy { method, terminal: p.terminal });
    }
    Ok(out)
}

/// What a request offers to hash.
pub struct Request<'a> {
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Path with query.
    pub path: &'a str,
    /// The downstream peer.
    pub remote: SocketAddr,
    /// Where the request arrived.
    pub local: SocketAddr,
}

/// The request's hash key, if any policy produced one, and the `set-cookie` value to add to
/// the response when a cookie policy made one up.
pub fn key(policies: &[HashPolicy], req: &Request<'_>) -> (Option<u64>, Option<HeaderValue>) {
    let mut hash: Option<u64> = None;
    let mut set_cookie = None;
    for p in policies {
        if let Some(new) = evaluate(&p.method, req, &mut set_cookie) {
            let old = hash.map_or(0, |h| h.rotate_left(1));
            hash = Some(old ^ new);
        }
        if p.terminal && hash.is_some() {
            break;
        }
    }
    (hash, set_cookie)
}

fn evaluate(method: &Method, req: &Request<'_>, set_cookie: &mut Option<HeaderValue>) -> Option<u64> {
    match method {
        Method::Header(name) => {
            let mut values: Vec<&[u8]> = req.headers.get_all(name).iter().map(HeaderValue::as_bytes).collect();
            if values.is_empty() {
                return None;
            }
            values.sort();
            Some(xxh64(&values.concat(), 0))
        }
        Method::Cookie { name, path, ttl } => match cookie(req.headers, name) {
            Some(value) => Some(xxh64(value.as_bytes(), 0)),
            None => {
                let ttl = (*ttl)?;
                let value = format!("{:016x}", xxh64(format!("{}{}", req.remote, req.local).as_bytes(), 0));
                *set_cookie = HeaderValue::from_str(&set_cookie_value(name, &value, path, ttl)).ok();
                Some(xxh64(value.as_bytes(), 0))
            }
        },
        Method::SourceIp => Some(xxh64(req.remote.ip().to_string().as_bytes(), 0)),
        Method::QueryParameter(name) => {
            let (_, query) = req.path.split_once('?')?;
            let value = query.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k == name).then_some(v)
            })?;
            Some(xxh64(value.as_bytes(), 0))
        }
    }
}

/// The value of cookie `name` in the request's `cookie` headers (quotes stripped).
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get_all(http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|line| {
        line.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
            (k == name && !v.is_empty()).then_some(v)
        })
    })
}

/// Envoy's `makeSetCookieValue` (HttpOnly, no attributes).
fn set_cookie_value(name: &str, value: &str, path: &str, ttl: Duration) -> String {
    let mut out = format!("{name}=\"{value}\"");
    if !ttl.is_zero() {
        out.push_str(&format!("; Max-Age={}", ttl.as_secs()));
    }
    if !path.is_empty() {
        out.push_str(&format!("; Path={path}"));
    }
    out.push_str("; HttpOnly");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hash_policy::{ConnectionProperties, Cookie, Header, PolicySpecifier, QueryParameter};

    fn policy(p: PolicySpecifier, terminal: bool) -> EnvoyHashPolicy {
        EnvoyHashPolicy { policy_specifier: Some(p), terminal }
    }

    fn request<'a>(headers: &'a HeaderMap, path: &'a str) -> Request<'a> {
        Request {
            headers,
            path,
            remote: "127.0.0.1:50000".parse().expect("addr"),
            local: "127.0.0.100:15001".parse().expect("addr"),
        }
    }

    #[test]
    fn each_method_hashes_its_input_with_xxhash64() {
        let mut h = HeaderMap::new();
        h.insert("x-user", HeaderValue::from_static("jason"));
        h.insert(http::header::COOKIE, HeaderValue::from_static("a=1; session=\"abc\""));
        let header = Header { header_name: "X-User".into(), regex_rewrite: None };
        let table = [
            (PolicySpecifier::Header(header), xxh64(b"jason", 0)),
            (PolicySpecifier::Cookie(Cookie { name: "session".into(), ..Default::default() }), xxh64(b"abc", 0)),
            (PolicySpecifier::ConnectionProperties(ConnectionProperties { source_ip: true }), xxh64(b"127.0.0.1", 0)),
            (PolicySpecifier::QueryParameter(QueryParameter { name: "u".into() }), xxh64(b"7", 0)),
        ];
        for (p, want) in table {
            let compiled = compile(&[policy(p.clone(), false)]).expect("compiles");
            assert_eq!(key(&compiled, &request(&h, "/x?a=1&u=7")), (Some(want), None), "{p:?}");
        }
    }

    #[test]
    fn policies_combine_and_terminal_stops() {
        let mut h = HeaderMap::new();
        h.insert("a", HeaderValue::from_static("1"));
        h.insert("b", HeaderValue::from_static("2"));
        let hdr = |n: &str| PolicySpecifier::Header(Header { header_name: n.into(), regex_rewrite: None });
        let both = compile(&[policy(hdr("a"), false), policy(hdr("b"), false)]).expect("compiles");
        let want = xxh64(b"1", 0).rotate_left(1) ^ xxh64(b"2", 0);
        assert_eq!(key(&both, &request(&h, "/")).0, Some(want));
        let terminal = compile(&[policy(hdr("missing"), true), policy(hdr("a"), true), policy(hdr("b"), false)]);
        assert_eq!(key(&terminal.expect("compiles"), &request(&h, "/")).0, Some(xxh64(b"1", 0)));
        assert_eq!(key(&both, &request(&HeaderMap::new(), "/")).0, None, "no key: the balancer picks at random");
    }

    #[test]
    fn a_missing_cookie_with_a_ttl_is_made_up_and_set() {
        let ttl = Some(envoy_types::pb::google::protobuf::Duration { seconds: 60, nanos: 0 });
        let c = Cookie { name: "sticky".into(), path: "/".into(), ttl, ..Default::default() };
        let compiled = compile(&[policy(PolicySpecifier::Cookie(c), false)]).expect("compiles");
        let (hash, set) = key(&compiled, &request(&HeaderMap::new(), "/"));
        let value = format!("{:016x}", xxh64(b"127.0.0.1:50000127.0.0.100:15001", 0));
        assert_eq!(hash, Some(xxh64(value.as_bytes(), 0)));
        let set = set.expect("set-cookie");
        assert_eq!(set.to_str().ok(), Some(format!("sticky=\"{value}\"; Max-Age=60; Path=/; HttpOnly").as_str()));
    }
}
