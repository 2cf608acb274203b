//! gRPC on the proxy path, as Envoy 1.40 treats it: a request is gRPC when its `content-type`
//! is `application/grpc` or `application/grpc+…`/`;…` (gRPC-Web is not); a local reply to
//! such a request is "trailers-only" — HTTP 200, `content-type: application/grpc`,
//! `grpc-status` (the fault's gRPC status, else the HTTP status mapped as gRPC's
//! http-grpc-status-mapping does) and `grpc-message` (the local reply body, percent-encoded),
//! no body — while the access log keeps the flags and details and records the 200 that was
//! sent (checked against Envoy: `"POST /svc/M HTTP/2" 200 UH no_healthy_upstream`). The route
//! timeout of a gRPC request comes from its `grpc-timeout` header when the route sets
//! `max_grpc_timeout` (Istio always does), capped by it unless it is zero; the header sent
//! upstream then says how long is left.

use http::{HeaderMap, HeaderValue, header};
use std::time::Duration;

/// `grpc-status`.
pub static GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
/// `grpc-message`.
pub static GRPC_MESSAGE: http::HeaderName = http::HeaderName::from_static("grpc-message");
/// `grpc-timeout`.
pub static GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");

/// True for a gRPC request (Envoy's `Grpc::Common::isGrpcRequestHeaders`).
pub fn is_grpc(h: &HeaderMap) -> bool {
    crate::metrics::labels::is_grpc(h.get(header::CONTENT_TYPE))
}

/// gRPC's status for an HTTP status (Envoy's `Grpc::Utility::httpToGrpcStatus`).
pub fn status_for_http(status: u16) -> u32 {
    match status {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502..=504 => 14,
        _ => 2,
    }
}

/// gRPC's percent-encoding of `grpc-message`: bytes outside printable ASCII, and `%`, as `%XX`.
pub fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The trailers-only headers of a gRPC local reply.
pub fn local_reply_headers(h: &mut HeaderMap, grpc_status: u32, message: &str) {
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    h.insert(GRPC_STATUS.clone(), HeaderValue::from(grpc_status));
    if !message.is_empty()
        && let Ok(v) = HeaderValue::from_str(&percent_encode(message))
    {
        h.insert(GRPC_MESSAGE.clone(), v);
    }
}

/// The `grpc-timeout` header (`1S`, `250m`, …; at most 8 digits): None when absent or invalid.
pub fn timeout(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(&GRPC_TIMEOUT)?.to_str().ok()?;
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// A duration as a `grpc-timeout` value in milliseconds (how Envoy rewrites the header).
pub fn timeout_value(d: Duration) -> HeaderValue {
    HeaderValue::from_str(&format!("{}m", d.as_millis())).unwrap_or_else(|_| HeaderValue::from_static("0m"))
}

/// The route timeout of a gRPC request under `max_grpc_timeout` (Envoy's `finalTimeout`): the
/// header's timeout (none: infinite), capped by the maximum unless the maximum is zero.
/// None means no timeout.
pub fn route_timeout(header: Option<Duration>, max: Duration) -> Option<Duration> {
    let asked = header.filter(|d| !d.is_zero());
    match asked {
        Some(t) if max.is_zero() || t <= max => Some(t),
        _ if max.is_zero() => None,
        _ => Some(max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_map_as_grpc_does() {
        let table = [(400, 13), (401, 16), (403, 7), (404, 12), (429, 14), (502, 14), (503, 14), (504, 14), (500, 2)];
        for (http, grpc) in table {
            assert_eq!(status_for_http(http), grpc, "{http}");
        }
    }

    #[test]
    fn grpc_timeouts_parse() {
        let parse = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(&GRPC_TIMEOUT, HeaderValue::from_static(v));
            timeout(&h)
        };
        assert_eq!(parse("1S"), Some(Duration::from_secs(1)));
        assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("5u"), Some(Duration::from_micros(5)));
        for bad in ["", "S", "1x", "123456789S", "-1S", "1.5S"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(timeout(&HeaderMap::new()), None);
    }

    #[test]
    fn route_timeout_takes_the_header_under_the_cap() {
        let s = Duration::from_secs;
        let table = [
            (Some(s(1)), s(0), Some(s(1))),
            (None, s(0), None),
            (Some(s(5)), s(2), Some(s(2))),
            (Some(s(1)), s(2), Some(s(1))),
            (None, s(2), Some(s(2))),
            (Some(s(0)), s(2), Some(s(2))),
        ];
        for (header, max, want) in table {
            assert_eq!(route_timeout(header, max), want, "{header:?} under {max:?}");
        }
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(percent_encode("no healthy upstream"), "no healthy upstream");
        assert_eq!(percent_encode("50% done\n"), "50%25 done%0A");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn trailers_only_headers() {
        let mut h = HeaderMap::new();
        local_reply_headers(&mut h, 14, "fault filter abort");
        assert_eq!(h["content-type"], "application/grpc");
        assert_eq!(h["grpc-status"], "14");
        assert_eq!(h["grpc-message"], "fault filter abort");
    }
}
