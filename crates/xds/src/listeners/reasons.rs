//! `x-strait-reason`: every response a proxy makes up itself (a local reply) says why, in plain
//! words, with the objects involved. Istio users get a bare `503` with `no healthy upstream` and
//! have to read access logs and config dumps to learn which cluster, host or policy was behind
//! it; here the answer is a header on the reply itself.
//!
//! It is all standard Envoy config, so Envoy and the Strait proxy give the same answer: the HTTP
//! connection managers get a `local_reply_config` whose mappers match the response flag and add
//! the header with substitution operators (`%UPSTREAM_CLUSTER_RAW%`, `%REQ(:AUTHORITY)%`, …), and the
//! routes that block traffic on purpose (REGISTRY_ONLY's `block_all` and CONNECT tunnels to
//! `BlackHoleCluster`) carry the header as a route response header, which wins over the mappers
//! (the mappers only add it when absent). Off unless the proxy asks for it (node metadata
//! `STRAIT_REASON_HEADER`, set by `strait up`) or the mesh's `defaultConfig.proxyMetadata` sets
//! `ISTIO_META_STRAIT_REASON_HEADER: "true"`.

use crate::any::pack;
use crate::names;
use crate::scope::Scope;
use envoy_types::pb::envoy::config::accesslog::v3::{AccessLogFilter, ResponseFlagFilter, access_log_filter};
use envoy_types::pb::envoy::config::core::v3::{HeaderValue, HeaderValueOption, header_value_option};
use envoy_types::pb::envoy::config::listener::v3::{Listener, filter};
use envoy_types::pb::envoy::config::route::v3::{RouteConfiguration, route, route_action::ClusterSpecifier};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, LocalReplyConfig, ResponseMapper,
};
use prost::{Message, Name};

/// The header.
pub const REASON_HEADER: &str = "x-strait-reason";

/// Why a request was refused on purpose by REGISTRY_ONLY (route response header).
pub const BLOCKED: &str = "blocked by outboundTrafficPolicy REGISTRY_ONLY: \"%REQ(:AUTHORITY)%\" is not in the mesh \
    registry (no Service or ServiceEntry); add a ServiceEntry for it";

/// The reasons by response flag, in mapper order (the first matching flag of a reply wins, so
/// the most specific flag comes first: `URX,UF` is explained as the connect failure it is).
/// `{proxy}` is replaced with `NAMESPACE/WORKLOAD` of the proxy.
pub const REASONS: &[(&str, &str)] = &[
    (
        "FI",
        "fault injected on purpose: a VirtualService fault.abort answered for host \"%REQ(:AUTHORITY)%\" (the request was never sent upstream)",
    ),
    ("NR", "no route: host \"%REQ(:AUTHORITY)%\" matches no VirtualService or Service visible to {proxy}"),
    (
        "NC",
        "no cluster: the route for \"%REQ(:AUTHORITY)%\" names a cluster {proxy} does not have (a subset no DestinationRule defines, or config still propagating)",
    ),
    (
        "UO",
        "circuit breaker open: %UPSTREAM_CLUSTER_RAW% is at a limit of its DestinationRule connectionPool (connections, pending or concurrent requests, or retries)",
    ),
    (
        "UF",
        "upstream connect failure: %UPSTREAM_HOST% of %UPSTREAM_CLUSTER_RAW% refused or did not accept the connection (%UPSTREAM_TRANSPORT_FAILURE_REASON%); is the app listening on that address and port?",
    ),
    (
        "UH",
        "no healthy upstream: %UPSTREAM_CLUSTER_RAW% has no healthy endpoint (none registered, none ready, or all ejected by outlierDetection)",
    ),
    (
        "UT",
        "upstream timeout: %UPSTREAM_CLUSTER_RAW% did not answer within the route timeout (VirtualService http timeout)",
    ),
    (
        "UC",
        "upstream connection closed before a response: %UPSTREAM_HOST% of %UPSTREAM_CLUSTER_RAW% (an app closing keep-alive connections, or a TLS mode mismatch)",
    ),
    ("UR", "upstream reset the request: %UPSTREAM_HOST% of %UPSTREAM_CLUSTER_RAW%"),
    ("LR", "the proxy reset the upstream request to %UPSTREAM_CLUSTER_RAW% (%RESPONSE_CODE_DETAILS%)"),
    ("DPE", "malformed request: %RESPONSE_CODE_DETAILS%"),
];

/// Adds the local-reply mappers to every HTTP connection manager of `listeners`.
pub fn for_listeners(listeners: &mut [Listener], scope: &Scope<'_>) {
    if !scope.proxy.reason_header {
        return;
    }
    let config = local_reply_config(&proxy_name(scope));
    for l in listeners {
        let chains = l.filter_chains.iter_mut().chain(l.default_filter_chain.as_mut());
        for f in chains.flat_map(|c| c.filters.iter_mut()) {
            let Some(filter::ConfigType::TypedConfig(any)) = &mut f.config_type else { continue };
            if any.type_url == HttpConnectionManager::type_url()
                && let Ok(mut hcm) = HttpConnectionManager::decode(any.value.as_slice())
            {
                hcm.local_reply_config = Some(config.clone());
                *any = pack(&hcm);
            }
        }
    }
}

/// Adds the REGISTRY_ONLY reason to the routes that block on purpose.
pub fn for_routes(configs: &mut [RouteConfiguration], scope: &Scope<'_>) {
    if !scope.proxy.reason_header {
        return;
    }
    let routes = configs.iter_mut().flat_map(|c| c.virtual_hosts.iter_mut()).flat_map(|v| v.routes.iter_mut());
    for r in routes {
        let blocks = match &r.action {
            Some(route::Action::DirectResponse(_)) => r.name == names::BLOCK_ALL_VHOST,
            Some(route::Action::Route(a)) => {
                matches!(&a.cluster_specifier, Some(ClusterSpecifier::Cluster(c)) if c == names::BLACKHOLE_CLUSTER)
            }
            _ => false,
        };
        if blocks {
            r.response_headers_to_add
                .push(header(BLOCKED, header_value_option::HeaderAppendAction::OverwriteIfExistsOrAdd));
        }
    }
}

/// `NAMESPACE/WORKLOAD` of the proxy, as users name their workloads.
fn proxy_name(scope: &Scope<'_>) -> String {
    format!("{}/{}", scope.proxy.id.namespace, scope.proxy.workload_name)
}

/// The mappers, one per explained flag.
pub fn local_reply_config(proxy: &str) -> LocalReplyConfig {
    let mappers = REASONS
        .iter()
        .map(|(flag, text)| ResponseMapper {
            filter: Some(AccessLogFilter {
                filter_specifier: Some(access_log_filter::FilterSpecifier::ResponseFlagFilter(ResponseFlagFilter {
                    flags: vec![(*flag).to_string()],
                })),
            }),
            headers_to_add: vec![header(
                &text.replace("{proxy}", proxy),
                header_value_option::HeaderAppendAction::AddIfAbsent,
            )],
            ..Default::default()
        })
        .collect();
    LocalReplyConfig { mappers, ..Default::default() }
}

fn header(value: &str, action: header_value_option::HeaderAppendAction) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue { key: REASON_HEADER.into(), value: value.into(), ..Default::default() }),
        append_action: action as i32,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mapper_per_flag_with_the_proxy_named() {
        let c = local_reply_config("default/productpage-v1");
        assert_eq!(c.mappers.len(), REASONS.len());
        let nr = &c.mappers[1];
        let text = nr.headers_to_add[0].header.as_ref().map(|h| h.value.clone()).unwrap_or_default();
        assert_eq!(
            text,
            "no route: host \"%REQ(:AUTHORITY)%\" matches no VirtualService or Service visible to default/productpage-v1"
        );
        let flags: Vec<_> = REASONS.iter().map(|(f, _)| *f).collect();
        for must in ["NR", "UH", "UF", "UO", "FI", "UT"] {
            assert!(flags.contains(&must), "{must} is explained");
        }
    }
}
