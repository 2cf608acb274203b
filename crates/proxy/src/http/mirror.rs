//! Request mirroring (`request_mirror_policies`; Istio's `mirror`, `mirrorPercentage`,
//! `mirrors`), as Envoy's router shadows a request: each policy, drawn at its percentage, sends
//! a fire-and-forget copy of the upstream request — after rewrites, header mutations and
//! `x-envoy-attempt-count: 1` — to its cluster, with `-shadow` appended to the host
//! (`reviews:9080` → `reviews-shadow:9080`), `x-envoy-internal: true` and this host's address
//! appended to `x-forwarded-for` (what Envoy's async client adds: the first non-loopback IPv4
//! address of the machine, else 127.0.0.1). The copy is sent once, before the first attempt,
//! under the route timeout; its response is read and dropped, and nothing about it (failure,
//! circuit breaker, missing cluster) ever touches the main request or its access log line.
//! Deliberate difference: a request body is copied when its length is known and at most
//! 64 KiB (it is buffered, as for retries); a longer or chunked body is not mirrored at all
//! (Envoy streams it to the shadow).

use super::body::UpstreamBody;
use super::forward::{Prepared, build};
use crate::config::policy::Mirror;
use crate::state::Shared;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;

static X_ENVOY_INTERNAL: HeaderName = HeaderName::from_static("x-envoy-internal");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The mirrors a request takes this time (each drawn at its percentage).
pub fn drawn(mirrors: &[Mirror]) -> Vec<&Mirror> {
    mirrors.iter().filter(|m| crate::rng::below(1_000_000) < u64::from(m.per_million)).collect()
}

/// Sends a copy of `prepared` (with `body`) to each mirror's cluster, in the background.
pub(super) fn shadow(
    mirrors: &[&Mirror],
    prepared: &Prepared,
    body: Option<&bytes::Bytes>,
    timeout: Option<Duration>,
    attempt_count: bool,
    shared: &Arc<Shared>,
) {
    for m in mirrors {
        let mut copy = prepared.clone();
        shadow_headers(&mut copy.headers, m.host_suffix);
        let (shared, cluster, body) = (shared.clone(), m.cluster.clone(), body.cloned());
        tokio::spawn(async move {
            let call = send(copy, &cluster, body, attempt_count, &shared);
            let done = match timeout {
                Some(t) => tokio::time::timeout(t, call).await.is_ok(),
                None => {
                    call.await;
                    true
                }
            };
            if !done {
                tracing::debug!(cluster, "shadow request timed out");
            }
        });
    }
}

async fn send(copy: Prepared, cluster_name: &str, body: Option<bytes::Bytes>, count: bool, shared: &Arc<Shared>) {
    let config = shared.config.load_full();
    let Some(cluster) = config.clusters.get(cluster_name) else {
        tracing::debug!(cluster_name, "shadow cluster does not exist");
        return;
    };
    let authority = copy.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_string();
    let header = |name: &str| copy.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let target = crate::upstream::Target { authority: &authority, header, local: None, original_dst: None };
    let Ok((addr, active)) = crate::upstream::pick(cluster, &config, &target, None) else { return };
    let pool = shared.pools.get(cluster);
    let h2 = pool.speaks_h2(copy.h2);
    let Ok(request) =
        build(&copy, copy.headers.clone(), addr, &authority, h2, count.then_some(1), UpstreamBody::Full(body))
    else {
        return;
    };
    match pool.send(addr, request, h2, active).await {
        Ok(sent) => {
            let status = sent.response.status().as_u16();
            crate::upstream::report(cluster, addr, crate::upstream::outlier::Outcome::Status(status));
            // Read to the end so that the connection goes back to the pool.
            let _ = sent.response.into_body().collect().await;
        }
        Err(f) => tracing::debug!(cluster_name, "shadow request failed: {}", f.details()),
    }
}

/// The shadow copy's headers: `-shadow` host, `x-envoy-internal`, and our address in
/// `x-forwarded-for`.
fn shadow_headers(h: &mut HeaderMap, host_suffix: bool) {
    if host_suffix
        && let Some(host) = h.get(header::HOST).and_then(|v| v.to_str().ok())
        && let Ok(v) = HeaderValue::from_str(&shadow_host(host))
    {
        h.insert(header::HOST, v);
    }
    h.insert(X_ENVOY_INTERNAL.clone(), HeaderValue::from_static("true"));
    let local = crate::http::xff::local_address().to_string();
    let xff = match h.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(old) if !old.is_empty() => format!("{old},{local}"),
        _ => local,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert(X_FORWARDED_FOR.clone(), v);
    }
}

/// Envoy's shadow host: `-shadow` before the port, or at the end.
pub fn shadow_host(host: &str) -> String {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => format!("{}-shadow{}", &host[..i], &host[i..]),
        _ => format!("{host}-shadow"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadow_hosts_follow_envoy() {
        let table = [
            ("reviews:9080", "reviews-shadow:9080"),
            ("reviews", "reviews-shadow"),
            ("reviews.default.svc.cluster.local:9080", "reviews.default.svc.cluster.local-shadow:9080"),
            ("[::1]", "[::1]-shadow"),
            ("[::1]:80", "[::1]-shadow:80"),
        ];
        for (host, want) in table {
            assert_eq!(shadow_host(host), want, "{host}");
        }
    }

    #[test]
    fn shadow_headers_mark_the_copy() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("echo:9080"));
        h.insert(&X_FORWARDED_FOR, HeaderValue::from_static("1.2.3.4"));
        h.insert(&X_ENVOY_INTERNAL, HeaderValue::from_static("false"));
        shadow_headers(&mut h, true);
        assert_eq!(h[header::HOST], "echo-shadow:9080");
        assert_eq!(h[&X_ENVOY_INTERNAL], "true");
        assert_eq!(
            h[&X_FORWARDED_FOR].to_str().ok(),
            Some(format!("1.2.3.4,{}", crate::http::xff::local_address()).as_str())
        );
        let mut plain = HeaderMap::new();
        plain.insert(header::HOST, HeaderValue::from_static("echo:9080"));
        shadow_headers(&mut plain, false);
        assert_eq!(plain[header::HOST], "echo:9080", "disable_shadow_host_suffix_append");
    }

    #[test]
    fn percentages_draw() {
        let m = |per_million| Mirror { cluster: "c".into(), per_million, host_suffix: true };
        let (all, none) = (m(1_000_000), m(0));
        let drawn_all = (0..200).filter(|_| drawn(std::slice::from_ref(&all)).len() == 1).count();
        let drawn_none = (0..200).filter(|_| drawn(std::slice::from_ref(&none)).len() == 1).count();
        assert_eq!((drawn_all, drawn_none), (200, 0));
        let half = m(500_000);
        let n = (0..10_000).filter(|_| !drawn(std::slice::from_ref(&half)).is_empty()).count();
        assert!((4_500..5_500).contains(&n), "50% over 10,000: {n}");
    }
}
