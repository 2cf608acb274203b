//! Header handling on the proxy path: hop-by-hop headers dropped in both directions (RFC 9110
//! §7.6.1, plus the `Connection`-named ones), route/virtual-host/cluster mutations applied with
//! Envoy's append actions, and the headers Envoy adds (`x-request-id`, `x-forwarded-proto`).

use crate::config::action::{Append, HeaderAdd, HeaderMutations};
use crate::format::Context;
use http::{HeaderMap, HeaderName, HeaderValue, header};

/// `x-request-id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `x-forwarded-proto`.
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `x-envoy-attempt-count`.
pub static X_ENVOY_ATTEMPT_COUNT: HeaderName = HeaderName::from_static("x-envoy-attempt-count");
/// `x-envoy-upstream-service-time`.
pub static X_ENVOY_UPSTREAM_SERVICE_TIME: HeaderName = HeaderName::from_static("x-envoy-upstream-service-time");
/// `x-envoy-expected-rq-timeout-ms` (how long the upstream has, set by Envoy's router).
pub static X_ENVOY_EXPECTED_RQ_TIMEOUT_MS: HeaderName = HeaderName::from_static("x-envoy-expected-rq-timeout-ms");
/// `x-envoy-original-path` (set when the path is rewritten; the access log prefers it).
pub static X_ENVOY_ORIGINAL_PATH: HeaderName = HeaderName::from_static("x-envoy-original-path");

const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop headers, including those the `Connection` header names, and `Upgrade`.
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    // Most messages carry none of them: one pass over the names (cheap compares of standard
    // headers) instead of nine hashed removals (bench/proxy: ~1% of a request).
    if !h.keys().any(|k| k == header::UPGRADE || HOP_BY_HOP.contains(k)) {
        return;
    }
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        h.remove(name);
    }
    h.remove(header::UPGRADE);
}

/// Adds `a` per its append action; a templated value is rendered from `cx` (and dropped
/// when it renders to something that is not a header value, as Envoy does).
pub fn add(h: &mut HeaderMap, a: &HeaderAdd, cx: Context<'_>) {
    let value = match &a.template {
        Some(t) => match HeaderValue::from_str(&t.render(cx)) {
            Ok(v) => v,
            Err(_) => return,
        },
        None => a.value.clone(),
    };
    match a.action {
        Append::AppendOrAdd => {
            h.append(a.name.clone(), value);
        }
        Append::AddIfAbsent => {
            if !h.contains_key(&a.name) {
                h.insert(a.name.clone(), value);
            }
        }
        Append::OverwriteOrAdd => {
            h.insert(a.name.clone(), value);
        }
        Append::OverwriteIfExists => {
            if h.contains_key(&a.name) {
                h.insert(a.name.clone(), value);
            }
        }
    }
}

/// Applies the request side of `m`: removals, then additions.
pub fn mutate_request(h: &mut HeaderMap, m: &HeaderMutations, cx: Context<'_>) {
    for name in &m.request_remove {
        h.remove(name);
    }
    for a in &m.request_add {
        add(h, a, cx);
    }
}

/// Applies the response side of `m`: removals, then additions.
pub fn mutate_response(h: &mut HeaderMap, m: &HeaderMutations, cx: Context<'_>) {
    for name in &m.response_remove {
        h.remove(name);
    }
    for a in &m.response_add {
        add(h, a, cx);
    }
}

/// Adds `x-request-id` when absent (Envoy's default UUID request ids); returns it.
pub fn ensure_request_id(h: &mut HeaderMap) -> Option<String> {
    if let Some(v) = h.get(&X_REQUEST_ID) {
        return v.to_str().ok().map(str::to_string);
    }
    let id = crate::rng::uuid_v4();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(X_REQUEST_ID.clone(), v);
    }
    Some(id)
}

/// A header's value as text (lossy), for the access log.
pub fn text(h: &HeaderMap, name: &HeaderName) -> Option<String> {
    h.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["x-kept"]);
    }

    #[test]
    fn append_actions() {
        let add_one = |action, existing: Option<&'static str>| {
            let mut h = HeaderMap::new();
            if let Some(v) = existing {
                h.insert("x-a", HeaderValue::from_static(v));
            }
            let a = HeaderAdd {
                name: HeaderName::from_static("x-a"),
                value: HeaderValue::from_static("new"),
                action,
                template: None,
            };
            let r = crate::format::tests_support::record();
            add(&mut h, &a, Context { record: &r, request: None });
            h.get_all("x-a").iter().map(|v| v.to_str().unwrap_or_default().to_string()).collect::<Vec<_>>()
        };
        assert_eq!(add_one(Append::AppendOrAdd, Some("old")), ["old", "new"]);
        assert_eq!(add_one(Append::AddIfAbsent, Some("old")), ["old"]);
        assert_eq!(add_one(Append::OverwriteOrAdd, Some("old")), ["new"]);
        assert!(add_one(Append::OverwriteIfExists, None).is_empty());
        assert_eq!(add_one(Append::OverwriteIfExists, Some("old")), ["new"]);
    }
}
