//! HTTP/1.1 upgrades (WebSocket and any other `Upgrade` type a config allows), as Envoy 1.40
//! handles them: a request is an upgrade when `Connection` has the `upgrade` token and
//! `Upgrade` is present (`h2c` excepted: Envoy's codec strips it and serves the request as
//! HTTP/1.1); the route's upgrade configs decide, else the connection manager's
//! (`upgrade_configs`, `websocket` in everything Istio generates); a type neither allows gets
//! 403 with an empty body, details `upgrade_failed`, and the connection closes. An allowed
//! upgrade goes upstream over HTTP/1.1 with its `Connection` and `Upgrade` headers; a `101`
//! answer is relayed (without `x-envoy-upstream-service-time`: the request never completed)
//! and the two connections are spliced. The route timeout stops at the 101, as in Envoy. The
//! access log line is written when the tunnel closes: `101`, its byte counts and duration, and
//! `DC downstream_remote_disconnect` when the client closed first or `UC
//! upstream_reset_after_response_started{connection_termination}` when the upstream did
//! (checked against Envoy). Deliberate difference: an upgrade routed to an HTTP/2 cluster
//! still goes upstream over HTTP/1.1 (Envoy would send an extended CONNECT, which most
//! WebSocket servers do not accept).

use super::client::Upgraded;
use super::proxy::Exchange;
use crate::state::Shared;
use http::{HeaderMap, HeaderValue, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The `HTTP2-Settings` header of an `h2c` upgrade request.
const HTTP2_SETTINGS: http::HeaderName = http::HeaderName::from_static("http2-settings");

/// An upgrade a request asks for: its type (lower case) and the headers that carry it upstream.
#[derive(Debug, Clone)]
pub struct Requested {
    /// `websocket`, …
    pub kind: String,
    /// The client's `Connection` value.
    pub connection: HeaderValue,
    /// The client's `Upgrade` value.
    pub upgrade: HeaderValue,
}

/// Envoy's `Utility::isUpgrade` on an HTTP/1.1 request; an `h2c` upgrade is dropped from the
/// headers instead (the request is then an ordinary one).
pub fn requested(version: http::Version, h: &mut HeaderMap) -> Option<Requested> {
    if version != http::Version::HTTP_11 {
        return None;
    }
    let upgrade = h.get(header::UPGRADE)?.clone();
    let connection = h.get(header::CONNECTION)?.clone();
    let has_token =
        |v: &HeaderValue| v.to_str().is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")));
    if !h.get_all(header::CONNECTION).iter().any(has_token) {
        return None;
    }
    let kind = String::from_utf8_lossy(upgrade.as_bytes()).trim().to_ascii_lowercase();
    if kind == "h2c" {
        h.remove(HTTP2_SETTINGS);
        return None;
    }
    Some(Requested { kind, connection, upgrade })
}

/// Envoy's `createUpgradeFilterChain`: a route config for the type decides (enabled or not);
/// otherwise the connection manager must list it.
pub fn allowed(kind: &str, route: &[(String, bool)], manager: &[String]) -> bool {
    match route.iter().find(|(t, _)| t == kind) {
        Some((_, enabled)) => *enabled,
        None => manager.iter().any(|t| t == kind),
    }
}

/// Which side ended a tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closer {
    Downstream,
    Upstream,
}

/// Splices the two upgraded connections once both are ready and writes the access log record
/// when the tunnel ends (the response to the client is the 101 being returned).
pub(super) fn splice(downstream: OnUpgrade, upstream: Upgraded, ex: &mut Exchange, shared: &Arc<Shared>) {
    let mut record = ex.record.clone();
    let started = ex.started;
    let log = std::mem::take(&mut ex.log).then(|| shared.clone());
    tokio::spawn(async move {
        let (closer, received, sent) = match downstream.await {
            Ok(d) => relay(TokioIo::new(d), upstream).await,
            Err(_) => (Closer::Downstream, 0, 0),
        };
        (record.bytes_received, record.bytes_sent) = (received, sent);
        (record.flags, record.details) = match closer {
            Closer::Downstream => ("DC", "downstream_remote_disconnect".into()),
            Closer::Upstream => ("UC", "upstream_reset_after_response_started{connection_termination}".into()),
        };
        if let Some(shared) = log {
            record.duration_ms = crate::upstream::millis(started.elapsed());
            shared.access_log.complete(&record);
        }
    });
}

/// Copies both ways until either side closes (Envoy does not half-close upgraded streams: the
/// first close ends both); returns who closed and the bytes each way.
async fn relay<D, U>(downstream: D, upstream: U) -> (Closer, u64, u64)
where
    D: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    U: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut dr, mut dw) = tokio::io::split(downstream);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let (mut from_client, mut from_server) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let (mut received, mut sent) = (0u64, 0u64);
    let closer = loop {
        tokio::select! {
            // Upstream first: Envoy reads a socket until EAGAIN, so an upstream close that
            // arrived with its last bytes is seen before the client's reaction to those bytes
            // (a WebSocket close echo and FIN is `UC` on Envoy, every time).
            biased;
            r = ur.read(&mut from_server) => match r {
                Ok(n) if n > 0 => {
                    if dw.write_all(&from_server[..n]).await.is_err() {
                        break Closer::Downstream;
                    }
                    sent += n as u64;
                }
                _ => break Closer::Upstream,
            },
            r = dr.read(&mut from_client) => match r {
                Ok(n) if n > 0 => {
                    if uw.write_all(&from_client[..n]).await.is_err() {
                        break Closer::Upstream;
                    }
                    received += n as u64;
                }
                _ => break Closer::Downstream,
            },
        }
    };
    let _ = tokio::join!(dw.shutdown(), uw.shutdown());
    (closer, received, sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn upgrade_requests_are_recognised_as_envoy_does() {
        let kind = |pairs: &[(&'static str, &'static str)], v| requested(v, &mut headers(pairs)).map(|r| r.kind);
        let v11 = http::Version::HTTP_11;
        assert_eq!(
            kind(&[("upgrade", "WebSocket"), ("connection", "keep-alive, Upgrade")], v11).as_deref(),
            Some("websocket")
        );
        assert_eq!(kind(&[("upgrade", "websocket")], v11), None, "no Connection: upgrade");
        assert_eq!(kind(&[("upgrade", "websocket"), ("connection", "close")], v11), None);
        assert_eq!(kind(&[("upgrade", "websocket"), ("connection", "upgrade")], http::Version::HTTP_10), None);
        let mut h2c =
            headers(&[("upgrade", "h2c"), ("connection", "Upgrade, HTTP2-Settings"), ("http2-settings", "AAA")]);
        assert!(requested(v11, &mut h2c).is_none() && !h2c.contains_key("http2-settings"), "h2c is served as HTTP/1.1");
    }

    #[test]
    fn the_route_overrides_the_connection_manager() {
        let hcm = ["websocket".to_string()];
        type Case<'a> = (&'a str, &'a [(String, bool)], bool);
        let table: &[Case<'_>] = &[
            ("websocket", &[], true),
            ("foo", &[], false),
            ("websocket", &[("websocket".into(), false)], false),
            ("foo", &[("foo".into(), true)], true),
        ];
        for (kind, route, want) in table {
            assert_eq!(allowed(kind, route, &hcm), *want, "{kind} {route:?}");
        }
    }

    #[tokio::test]
    async fn the_first_close_ends_the_tunnel() {
        let (client, proxy_down) = tokio::io::duplex(64);
        let (proxy_up, server) = tokio::io::duplex(64);
        let relay = tokio::spawn(relay(proxy_down, proxy_up));
        let (mut client, mut server) = (client, server);
        client.write_all(b"ping").await.expect("write");
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.expect("read");
        server.write_all(b"pong!").await.expect("write");
        let mut back = [0u8; 5];
        client.read_exact(&mut back).await.expect("read");
        drop(server);
        let (closer, received, sent) = relay.await.expect("relay");
        assert_eq!((closer, received, sent, &buf, &back), (Closer::Upstream, 4, 5, b"ping", b"pong!"));
    }
}
