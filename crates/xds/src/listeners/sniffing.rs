//! Protocol sniffing (Istio's "automatic protocol detection") for ports whose protocol is not
//! declared (`Protocol::Unknown`: no `http-`/`tcp-`… name prefix, no `appProtocol`). Such a
//! listener runs Envoy's `http_inspector` on the first bytes of each connection and picks a
//! filter chain by what it saw: plain-text HTTP/1.1 or h2c (`application_protocols`, with
//! `transport_protocol: raw_buffer` so TLS carrying an `h2` ALPN never counts as h2c) goes to an
//! HTTP connection manager, anything else to a TCP proxy. As in Istio (without mTLS, so without
//! a `tls_inspector`: no chain matches on TLS), HTTP/1.0 is not matched (`PILOT_HTTP10` off):
//! our HCM would refuse it, while the TCP chain still carries it.
//!
//! Server-first protocols (MySQL, SMTP, NATS…) send nothing until the server speaks, so the
//! inspector would wait forever. Istio bounds the wait with `meshConfig.protocolDetectionTimeout`
//! and `continue_on_listener_filters_timeout` (the connection then takes the TCP chain), but its
//! default `0s` means no bound, i.e. an undeclared server-first port hangs. Strait honours any
//! non-zero `protocolDetectionTimeout` and reads `0s` as [`DEFAULT_DETECTION_TIMEOUT`] (5 s,
//! Istio's own default in 1.6.5–1.7, chosen there after 10 ms, 100 ms and 1 s misclassified slow
//! HTTP and TLS clients): a server-first protocol on an undeclared port then works after one
//! bounded wait per sidecar hop instead of never, and the cost of a timeout is a connection
//! carried as TCP (same destination, no HTTP routing) rather than a broken one. Declaring the
//! port (`tcp-…`) removes the wait entirely.

use crate::any::pack;
use crate::clusters::policy::duration;
use crate::scope::Scope;
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, ListenerFilter, ListenerFilterChainMatchPredicate,
    listener_filter,
    listener_filter_chain_match_predicate::{MatchSet, Rule},
};
use envoy_types::pb::envoy::extensions::filters::listener::http_inspector::v3::HttpInspector;
use envoy_types::pb::envoy::r#type::v3::Int32Range;
use envoy_types::pb::google::protobuf::UInt32Value;
use strait_registry::Protocol;

/// The listener filter that detects HTTP.
pub const HTTP_INSPECTOR: &str = "envoy.filters.listener.http_inspector";
/// What the HTTP inspector reports for the HTTP we route (Istio's `plaintextHTTPALPNs`).
pub const HTTP_ALPNS: [&str; 2] = ["http/1.1", "h2c"];
/// The transport protocol of connections no TLS inspector claimed.
const RAW_BUFFER: &str = "raw_buffer";
/// The detection wait when `protocolDetectionTimeout` is `0s` (see the module docs).
pub const DEFAULT_DETECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// True for ports whose protocol is detected per connection.
pub fn is_sniffed(p: Protocol) -> bool {
    p == Protocol::Unknown
}

/// True for ports whose traffic may reach an HTTP connection manager (declared HTTP or
/// sniffed): they get a route config named by the port.
pub fn routes_http(p: Protocol) -> bool {
    p.is_http() || is_sniffed(p)
}

/// How long the inspectors wait for the client's first bytes.
pub fn detection_timeout(scope: &Scope<'_>) -> std::time::Duration {
    let configured = scope.registry.mesh.effective_protocol_detection_timeout().get();
    if configured.is_zero() { DEFAULT_DETECTION_TIMEOUT } else { configured }
}

/// The match of the HTTP chain (optionally for one original destination port).
pub fn http_match(port: Option<u32>) -> FilterChainMatch {
    FilterChainMatch { application_protocols: HTTP_ALPNS.iter().map(|s| s.to_string()).collect(), ..raw_match(port) }
}

/// The match of the TCP fallback chain for one original destination port.
pub fn raw_match(port: Option<u32>) -> FilterChainMatch {
    FilterChainMatch {
        destination_port: port.map(|value| UInt32Value { value }),
        transport_protocol: RAW_BUFFER.into(),
        ..Default::default()
    }
}

/// Turns `l` into a sniffing listener: its chains become `http` (matched by the inspector's
/// verdict) with `tcp` as the default chain, and the HTTP inspector runs with a bounded wait.
pub fn sniff(mut l: Listener, scope: &Scope<'_>, http: Filter, tcp: Filter) -> Listener {
    l.filter_chains =
        vec![FilterChain { filter_chain_match: Some(http_match(None)), filters: vec![http], ..Default::default() }];
    l.default_filter_chain = Some(FilterChain { filters: vec![tcp], ..Default::default() });
    enable_inspector(&mut l, scope, &[]);
    l
}

/// Adds the HTTP inspector to `l` (after any listener filter it has, e.g. `original_dst`,
/// whose restored port the predicate then sees) with the bounded detection wait. With
/// `only_ports`, the inspector runs only for those original destination ports, so declared
/// ports and passthrough traffic never wait for it.
pub fn enable_inspector(l: &mut Listener, scope: &Scope<'_>, only_ports: &[u32]) {
    l.listener_filters.push(ListenerFilter {
        name: HTTP_INSPECTOR.into(),
        config_type: Some(listener_filter::ConfigType::TypedConfig(pack(&HttpInspector {}))),
        filter_disabled: outside(only_ports),
    });
    l.listener_filters_timeout = Some(duration(detection_timeout(scope)));
    // On timeout, go on without a verdict (the TCP chain) instead of closing the connection.
    l.continue_on_listener_filters_timeout = true;
}

/// A predicate true for every destination port but `ports` (none when `ports` is empty).
fn outside(ports: &[u32]) -> Option<ListenerFilterChainMatchPredicate> {
    let mut rules: Vec<_> = ports
        .iter()
        .filter_map(|p| i32::try_from(*p).ok())
        .map(|p| ListenerFilterChainMatchPredicate {
            rule: Some(Rule::DestinationPortRange(Int32Range { start: p, end: p.saturating_add(1) })),
        })
        .collect();
    let inside = match rules.len() {
        0 => return None,
        1 => rules.remove(0),
        _ => ListenerFilterChainMatchPredicate { rule: Some(Rule::OrMatch(MatchSet { rules })) },
    };
    Some(ListenerFilterChainMatchPredicate { rule: Some(Rule::NotMatch(Box::new(inside))) })
}
