//! The connection manager's own request and response headers, as Envoy 1.40's
//! `mutateRequestHeaders` sets them for the config's [`Edge`] (checked against Envoy on a
//! gateway, `use_remote_address: true`, and on a sidecar, `false`):
//!
//! - Every request loses `x-envoy-internal` and the `x-envoy-*` headers that steer Envoy
//!   (retry, timeout, tracing, stats names: [`CONTROL`]). No request counts as internal:
//!   Envoy 1.40 treats no address as internal without an `internal_address_config` (loopback
//!   included: checked), and that field is refused at config time.
//! - `use_remote_address` (the edge): XFF gets the peer's address appended with `,` (values of
//!   repeated XFF headers joined first); a loopback peer appends the host's own address instead,
//!   as Envoy appends its local address (its first non-loopback IPv4 interface address, else
//!   127.0.0.1); `x-forwarded-proto` is overwritten with the connection's scheme (unless trusted
//!   hops are configured and it is present); `x-envoy-external-address` is the client address
//!   (the peer, or with `xff_num_trusted_hops` the XFF entry that many hops back);
//!   [`EDGE_ONLY`] headers are dropped; a client's `x-request-id` is replaced unless
//!   `preserve_external_request_id`.
//! - Otherwise `x-forwarded-proto` is set when absent (`https` on TLS).
//! - Responses carry `server: envoy` (or the configured name) per `server_header_transformation`.

use super::proxy::Conn;
use crate::config::hcm::{Edge, ServerHeader};
use http::{HeaderMap, HeaderName, HeaderValue, header};
use std::net::{IpAddr, Ipv4Addr};

/// `x-forwarded-for`.
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `x-envoy-external-address`.
pub static X_ENVOY_EXTERNAL_ADDRESS: HeaderName = HeaderName::from_static("x-envoy-external-address");

/// Headers that steer Envoy, dropped from every request that is not internal (all of them).
pub const CONTROL: [&str; 16] = [
    "x-envoy-internal",
    "x-envoy-retriable-status-codes",
    "x-envoy-retriable-header-names",
    "x-envoy-retry-on",
    "x-envoy-retry-grpc-on",
    "x-envoy-max-retries",
    "x-envoy-upstream-alt-stat-name",
    "x-envoy-upstream-rq-timeout-ms",
    "x-envoy-upstream-rq-per-try-timeout-ms",
    "x-envoy-upstream-rq-timeout-alt-response",
    "x-envoy-upstream-stream-duration-ms",
    "x-envoy-expected-rq-timeout-ms",
    "x-envoy-force-trace",
    "x-envoy-ip-tags",
    "x-envoy-original-url",
    "x-envoy-hedge-on-per-try-timeout",
];

/// Headers dropped from edge requests only (clients must not set them).
pub const EDGE_ONLY: [&str; 4] = [
    "x-envoy-decorator-operation",
    "x-envoy-downstream-service-cluster",
    "x-envoy-downstream-service-node",
    "x-envoy-original-path",
];

/// Applies the request side to `h`, before the request id is made and the access log reads
/// the request.
pub fn request(h: &mut HeaderMap, conn: &Conn) {
    let edge = &conn.hcm.edge;
    let scheme = if conn.tls.is_some() { "https" } else { "http" };
    // Every CONTROL name starts with `x-envoy-`: one pass over the few headers a request has
    // skips sixteen name parses and lookups when none does (bench/proxy: ~1% of a request).
    if h.keys().any(|k| k.as_str().starts_with("x-envoy-")) {
        for name in CONTROL {
            h.remove(name);
        }
    }
    if !edge.use_remote_address {
        if !h.contains_key(super::headers::X_FORWARDED_PROTO.clone()) {
            h.insert(super::headers::X_FORWARDED_PROTO.clone(), HeaderValue::from_static(scheme));
        }
        return;
    }
    let client = (edge.xff_num_trusted_hops > 0)
        .then(|| last_xff_address(h, edge.xff_num_trusted_hops - 1))
        .flatten()
        .unwrap_or_else(|| conn.remote.ip());
    if !edge.skip_xff_append {
        let appended = if conn.remote.ip().is_loopback() { local_address() } else { conn.remote.ip() };
        append_xff(h, appended);
    }
    let proto = &super::headers::X_FORWARDED_PROTO;
    if edge.xff_num_trusted_hops == 0 || !h.contains_key(proto) {
        h.insert(proto.clone(), HeaderValue::from_static(scheme));
    }
    for name in EDGE_ONLY {
        h.remove(name);
    }
    // Kept on other hops: it carries what the edge found.
    if let Ok(v) = HeaderValue::from_str(&client.to_string()) {
        h.insert(X_ENVOY_EXTERNAL_ADDRESS.clone(), v);
    }
    if !edge.preserve_external_request_id {
        h.remove(&super::headers::X_REQUEST_ID);
    }
}

/// Applies the response side (the `server` header).
pub fn response(h: &mut HeaderMap, edge: &Edge) {
    match edge.server_header {
        ServerHeader::Overwrite => {
            h.insert(header::SERVER, edge.server_name.clone());
        }
        ServerHeader::AppendIfAbsent if !h.contains_key(header::SERVER) => {
            h.insert(header::SERVER, edge.server_name.clone());
        }
        ServerHeader::AppendIfAbsent | ServerHeader::PassThrough => {}
    }
}

/// Appends `ip` to XFF (one header: repeated ones joined with `,`, as Envoy's header map does).
fn append_xff(h: &mut HeaderMap, ip: IpAddr) {
    let mut joined: Vec<u8> = Vec::new();
    for v in h.get_all(&X_FORWARDED_FOR) {
        if !joined.is_empty() {
            joined.push(b',');
        }
        joined.extend_from_slice(v.as_bytes());
    }
    if !joined.is_empty() {
        joined.push(b',');
    }
    joined.extend_from_slice(ip.to_string().as_bytes());
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        h.insert(X_FORWARDED_FOR.clone(), v);
    }
}

/// Envoy's `getLastAddressFromXFF`: the entry `skip` places from the end, if it is an IP.
fn last_xff_address(h: &HeaderMap, skip: u32) -> Option<IpAddr> {
    let joined: Vec<String> =
        h.get_all(&X_FORWARDED_FOR).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect();
    let all = joined.join(",");
    let entries: Vec<&str> = all.split(',').map(str::trim).collect();
    let at = entries.len().checked_sub(1 + usize::try_from(skip).ok()?)?;
    entries.get(at)?.parse().ok()
}

/// The host's address as Envoy's `getLocalAddress(v4)` finds it (read once): the first
/// non-loopback IPv4 interface address, else the last loopback one, else 127.0.0.1. XFF on
/// loopback peers and mirrored requests both append it.
pub fn local_address() -> IpAddr {
    static LOCAL: std::sync::LazyLock<IpAddr> = std::sync::LazyLock::new(|| {
        let mut found = None;
        let v4 = nix::ifaddrs::getifaddrs()
            .into_iter()
            .flatten()
            .filter_map(|ifa| ifa.address.and_then(|a| a.as_sockaddr_in().map(|s| s.ip())));
        for ip in v4 {
            found = Some(ip);
            if !ip.is_loopback() {
                break;
            }
        }
        IpAddr::V4(found.unwrap_or(Ipv4Addr::LOCALHOST))
    });
    *LOCAL
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::hcm::{HttpManager, ROUTER_FILTER};
    use envoy_types::pb::envoy::config::core::v3::{ConfigSource, config_source::ConfigSourceSpecifier};
    use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
        HttpConnectionManager, HttpFilter, Rds, http_connection_manager::RouteSpecifier, http_filter::ConfigType,
    };
    use envoy_types::pb::google::protobuf::{Any, BoolValue};
    use std::sync::Arc;

    fn conn(edge: bool, hops: u32, remote: &str, tls: bool) -> Conn {
        let ads = ConfigSource {
            config_source_specifier: Some(ConfigSourceSpecifier::Ads(Default::default())),
            ..Default::default()
        };
        let router = HttpFilter {
            name: ROUTER_FILTER.into(),
            config_type: Some(ConfigType::TypedConfig(Any {
                type_url: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router".into(),
                value: Vec::new(),
            })),
            ..Default::default()
        };
        let h = HttpConnectionManager {
            use_remote_address: Some(BoolValue { value: edge }),
            xff_num_trusted_hops: hops,
            http_filters: vec![router],
            route_specifier: Some(RouteSpecifier::Rds(Rds { config_source: Some(ads), route_config_name: "r".into() })),
            ..Default::default()
        };
        let hcm = Arc::new(HttpManager::try_from(&h).expect("compiles"));
        let c = Conn::new(hcm, "127.0.0.220:8080".parse().expect("addr"), remote.parse().expect("addr"));
        if tls { c.with_tls(None) } else { c }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_bytes(k.as_bytes()).expect("name"), HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    fn get(h: &HeaderMap, name: &str) -> Vec<String> {
        h.get_all(name).iter().map(|v| v.to_str().unwrap_or_default().to_string()).collect()
    }

    #[test]
    fn edge_requests_get_xff_external_address_and_a_new_request_id() {
        let mut h = headers(&[
            ("x-forwarded-for", "10.1.1.1, 8.8.8.8"),
            ("x-forwarded-for", "9.9.9.9"),
            ("x-forwarded-proto", "https"),
            ("x-request-id", "abc"),
            ("x-envoy-retry-on", "5xx"),
            ("x-envoy-original-path", "/x"),
            ("x-envoy-external-address", "1.2.3.4"),
            ("x-envoy-foo", "kept"),
        ]);
        request(&mut h, &conn(true, 0, "10.0.0.7:5000", false));
        assert_eq!(get(&h, "x-forwarded-for"), ["10.1.1.1, 8.8.8.8,9.9.9.9,10.0.0.7"]);
        assert_eq!(get(&h, "x-forwarded-proto"), ["http"]);
        assert_eq!(get(&h, "x-envoy-external-address"), ["10.0.0.7"]);
        assert!(h.get("x-request-id").is_none() && h.get("x-envoy-retry-on").is_none());
        assert!(h.get("x-envoy-original-path").is_none());
        assert_eq!(get(&h, "x-envoy-foo"), ["kept"]);
        // A loopback peer: the host's own address goes into XFF, the peer into the header.
        let mut h = HeaderMap::new();
        request(&mut h, &conn(true, 0, "127.0.0.1:5000", true));
        assert_eq!(get(&h, "x-forwarded-for"), [local_address().to_string()]);
        assert_eq!(get(&h, "x-forwarded-proto"), ["https"]);
        assert_eq!(get(&h, "x-envoy-external-address"), ["127.0.0.1"]);
    }

    #[test]
    fn trusted_hops_read_the_client_from_xff() {
        let mut h = headers(&[("x-forwarded-for", "1.1.1.1,2.2.2.2"), ("x-forwarded-proto", "https")]);
        request(&mut h, &conn(true, 1, "10.0.0.7:5000", false));
        assert_eq!(get(&h, "x-envoy-external-address"), ["2.2.2.2"]);
        assert_eq!(get(&h, "x-forwarded-proto"), ["https"], "a trusted hop's proto is kept");
    }

    #[test]
    fn sidecar_requests_keep_what_the_app_set() {
        let mut h = headers(&[
            ("x-forwarded-for", "10.1.1.1"),
            ("x-request-id", "abc"),
            ("x-envoy-max-retries", "3"),
            ("x-envoy-internal", "true"),
            ("x-envoy-external-address", "1.2.3.4"),
            ("x-envoy-original-path", "/x"),
        ]);
        request(&mut h, &conn(false, 0, "127.0.0.1:5000", false));
        assert_eq!(get(&h, "x-forwarded-for"), ["10.1.1.1"]);
        assert_eq!(get(&h, "x-request-id"), ["abc"]);
        assert_eq!(get(&h, "x-forwarded-proto"), ["http"]);
        assert_eq!(get(&h, "x-envoy-external-address"), ["1.2.3.4"]);
        assert_eq!(get(&h, "x-envoy-original-path"), ["/x"]);
        assert!(h.get("x-envoy-max-retries").is_none() && h.get("x-envoy-internal").is_none());
    }

    #[test]
    fn server_header() {
        let c = conn(true, 0, "127.0.0.1:1", false);
        let mut h = headers(&[("server", "upstream")]);
        response(&mut h, &c.hcm.edge);
        assert_eq!(get(&h, "server"), ["envoy"]);
    }
}
