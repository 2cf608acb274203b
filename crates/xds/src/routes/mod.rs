//! RDS: the outbound route configs of a sidecar, as Istio builds them. One config per HTTP or
//! undeclared (sniffed) port of the visible services, named by the port (`"9080"`), with a
//! virtual host per service (`HOST:PORT`) whose routes come from the VirtualServices for that
//! host (their `http[]` in order, several VirtualServices merged in (namespace, name) order) or a
//! default route to `outbound|PORT||HOST`, and a catch-all `allow_any` / `block_all` host.
//! Capture-free proxies also get `"http_proxy"`: every HTTP service on every port, with
//! port-qualified domains, for the explicit HTTP proxy listener.
//!
//! Parts: `virtual_hosts` (domains, catch-all, VirtualService selection), `matching` (route
//! matches), `action` (destinations, redirects, rewrites, mirrors, headers), `policy`
//! (retries, faults, CORS). Routers (gateways) get `gateway`'s route configs instead.

pub(crate) mod action;
mod connect;
pub mod gateway;
mod hash;
pub(crate) mod matching;
pub(crate) mod policy;
pub(crate) mod virtual_hosts;

use crate::any::pack;
use crate::listeners::sniffing::routes_http;
use crate::names;
use crate::scope::Scope;
use action::Ctx;
use envoy_types::pb::envoy::config::route::v3::{
    Decorator, RetryPolicy, Route, RouteAction, RouteConfiguration, VirtualHost, route,
    route_action::{ClusterSpecifier, MaxStreamDuration},
    route_match::PathSpecifier,
};
use envoy_types::pb::google::protobuf::{BoolValue, UInt32Value};
use std::collections::BTreeSet;
use strait_model::networking::virtual_service::{Destination, HttpMatchRequest, HttpRoute};
use strait_registry::store::{name_of, namespace_of};
use strait_registry::{Protocol, Service};
use virtual_hosts::{no_timeout, set_timeout};

/// Name of the capture-free HTTP proxy route config.
pub const HTTP_PROXY_ROUTE: &str = "http_proxy";
/// Filter names for typed_per_filter_config.
pub const FAULT_FILTER: &str = "envoy.filters.http.fault";
/// The CORS filter.
pub const CORS_FILTER: &str = "envoy.filters.http.cors";

/// Builds the route configs for the scope: one per HTTP port, plus `http_proxy` when the proxy
/// is capture-free.
pub fn build(scope: &Scope<'_>) -> Vec<RouteConfiguration> {
    if scope.proxy.id.node_type == strait_registry::NodeType::Router {
        return gateway::build(scope);
    }
    let mut out: Vec<_> = http_ports(scope).into_iter().map(|p| port_route_config(scope, p)).collect();
    if !scope.proxy.captured {
        out.push(http_proxy_route_config(scope));
    }
    crate::listeners::reasons::for_routes(&mut out, scope);
    out
}

/// The ports of the visible services that get a route config, sorted: HTTP ports and undeclared
/// ones, whose sniffing listeners route the HTTP they detect through it.
pub(crate) fn http_ports(scope: &Scope<'_>) -> BTreeSet<u32> {
    scope.services().flat_map(|s| s.ports.iter()).filter(|p| routes_http(p.protocol)).map(|p| p.number).collect()
}

fn route_config(name: String, vhosts: Vec<VirtualHost>) -> RouteConfiguration {
    RouteConfiguration {
        name,
        virtual_hosts: vhosts,
        // Like Istio: a route to a cluster not (yet) known must not reject the whole config.
        validate_clusters: Some(BoolValue { value: false }),
        ..Default::default()
    }
}

/// The route config for one port (`"9080"`).
pub fn port_route_config(scope: &Scope<'_>, port: u32) -> RouteConfiguration {
    let mut vhosts: Vec<_> = services_on(scope, port).map(|s| virtual_host(scope, s, port)).collect();
    vhosts = virtual_hosts::dedupe_domains(vhosts);
    vhosts.push(virtual_hosts::catch_all(scope));
    route_config(port.to_string(), vhosts)
}

/// The `http_proxy` route config: every HTTP or undeclared service port, domains qualified by
/// port (bare names only for port 80, where clients omit it), so absolute-form requests route by
/// Host; CONNECT tunnels for opaque ports and unknown destinations (`connect`).
pub fn http_proxy_route_config(scope: &Scope<'_>) -> RouteConfiguration {
    let mut vhosts = Vec::new();
    for port in http_ports(scope) {
        for svc in services_on(scope, port) {
            let mut vh = virtual_host(scope, svc, port);
            if port != 80 {
                vh.domains.retain(|d| d.ends_with(&format!(":{port}")));
            }
            // An undeclared port carries HTTP (routed) or anything else (CONNECT tunnel), as
            // the sniffing listener of a captured sidecar would tell them apart.
            if svc.port(port).is_some_and(|p| p.protocol == Protocol::Unknown) {
                vh.routes.insert(0, connect::service_tunnel(scope, svc, port));
            }
            vhosts.push(vh);
        }
    }
    vhosts.extend(connect::opaque_virtual_hosts(scope));
    let mut vhosts = virtual_hosts::dedupe_domains(vhosts);
    let mut catch_all = virtual_hosts::catch_all(scope);
    connect::add_to_catch_all(scope, &mut catch_all);
    vhosts.push(catch_all);
    route_config(HTTP_PROXY_ROUTE.into(), vhosts)
}

fn services_on<'s, 'a>(scope: &'s Scope<'a>, port: u32) -> impl Iterator<Item = &'a Service> + 's {
    scope.services().filter(move |s| s.port(port).is_some_and(|p| routes_http(p.protocol)))
}

/// The virtual host `HOST:PORT` for one service port.
pub fn virtual_host(scope: &Scope<'_>, svc: &Service, port: u32) -> VirtualHost {
    VirtualHost {
        name: format!("{}:{port}", svc.hostname),
        domains: virtual_hosts::domains(scope, svc, port),
        routes: service_routes(scope, svc, port),
        include_request_attempt_count: true,
        ..Default::default()
    }
}

/// Routes of a service port: the VirtualServices' HTTP rules, or the default route.
fn service_routes(scope: &Scope<'_>, svc: &Service, port: u32) -> Vec<Route> {
    let vss = virtual_hosts::virtual_services_for(scope, &svc.hostname);
    let with_http: Vec<_> = vss.into_iter().filter(|vs| !vs.spec.http.is_empty()).collect();
    if with_http.is_empty() {
        let mut route = default_route(&names::outbound_cluster(port, "", &svc.hostname), port);
        // A DestinationRule's consistent hash applies to the default route too.
        let ctx = Ctx { scope, namespace: &svc.namespace, port };
        let dest = Destination { host: svc.hostname.clone(), ..Default::default() };
        if let Some(route::Action::Route(action)) = route.action.as_mut() {
            action.hash_policy = hash::for_route(&ctx, std::iter::once(&dest));
        }
        return vec![route];
    }
    let mut out = Vec::new();
    for vs in with_http {
        let ctx = Ctx { scope, namespace: namespace_of(vs), port };
        for http in vs.spec.http.iter().filter(|h| h.delegate.is_none()) {
            out.extend(http_routes(&ctx, name_of(vs), http));
        }
    }
    out
}

/// The default route to a service's cluster: no timeout, Istio's default retries.
fn default_route(cluster: &str, port: u32) -> Route {
    let mut action = RouteAction {
        cluster_specifier: Some(ClusterSpecifier::Cluster(cluster.to_string())),
        retry_policy: policy::retry_policy(None),
        ..Default::default()
    };
    set_timeout(&mut action, no_timeout());
    let operation = names::parse_outbound_cluster(cluster).map(|(_, _, h)| format!("{h}:{port}/*"));
    Route {
        name: "default".into(),
        r#match: Some(virtual_hosts::prefix_all()),
        decorator: operation.map(|operation| Decorator { operation, propagate: None }),
        action: Some(route::Action::Route(action)),
        ..Default::default()
    }
}

/// One HTTP rule → one Envoy route per applicable `match` entry (entries are ORed), each with
/// the same action.
pub(crate) fn http_routes(ctx: &Ctx<'_, '_>, vs_name: &str, http: &HttpRoute) -> Vec<Route> {
    let matches: Vec<Option<&HttpMatchRequest>> =
        if http.match_.is_empty() { vec![None] } else { http.match_.iter().map(Some).collect() };
    matches
        .into_iter()
        .filter(|m| m.and_then(|m| m.port).is_none_or(|p| p == 0 || p == ctx.port))
        .filter(|m| matching::source_matches(*m, ctx.scope.proxy))
        .filter_map(|m| translate(ctx, vs_name, http, m))
        .collect()
}

fn route_name(http: &HttpRoute, m: Option<&HttpMatchRequest>) -> String {
    let base = http.name.clone().unwrap_or_default();
    match m.and_then(|m| m.name.as_deref()).filter(|n| !n.is_empty()) {
        Some(n) => format!("{base}.{n}"),
        None => base,
    }
}

/// Istio's `TranslateRoute` for one match.
fn translate(ctx: &Ctx<'_, '_>, vs_name: &str, http: &HttpRoute, m: Option<&HttpMatchRequest>) -> Option<Route> {
    let ops = action::header_ops(http.headers.as_ref());
    let mut out = Route {
        name: route_name(http, m),
        r#match: Some(matching::route_match(m)),
        stat_prefix: m.and_then(|m| m.stat_prefix.clone()).unwrap_or_default(),
        request_headers_to_add: ops.request_add,
        request_headers_to_remove: ops.request_remove,
        response_headers_to_add: ops.response_add,
        response_headers_to_remove: ops.response_remove,
        ..Default::default()
    };
    out.action = Some(if let Some(r) = &http.redirect {
        route::Action::Redirect(action::redirect(r, ctx.port)?)
    } else if let Some(d) = &http.direct_response {
        route::Action::DirectResponse(action::direct_response(d))
    } else {
        let (mut act, dest) = action::forward(ctx, http, ops.authority);
        out.request_headers_to_add.extend(dest.request_add);
        out.request_headers_to_remove.extend(dest.request_remove);
        out.response_headers_to_add.extend(dest.response_add);
        out.response_headers_to_remove.extend(dest.response_remove);
        apply_timeout_and_retries(&mut act, http);
        route::Action::Route(act)
    });
    out.decorator = Some(Decorator { operation: operation(&out, vs_name, ctx.port), propagate: None });
    out.typed_per_filter_config = crate::any::stable_map();
    if let Some(f) = http.fault.as_ref().and_then(policy::fault) {
        out.typed_per_filter_config.insert(FAULT_FILTER.into(), pack(&f));
    }
    if let Some(c) = &http.cors_policy {
        out.typed_per_filter_config.insert(CORS_FILTER.into(), pack(&policy::cors(c)));
    }
    Some(out)
}

/// Timeout (none unless set) and retries (Istio's defaults unless set). With a fault on the
/// route, neither applies: the VirtualService API says client-side faults disable them.
fn apply_timeout_and_retries(act: &mut RouteAction, http: &HttpRoute) {
    let faulty = http.fault.as_ref().and_then(policy::fault).is_some();
    let timeout = http.timeout.filter(|_| !faulty).map(policy::duration).unwrap_or_else(no_timeout);
    set_timeout(act, timeout);
    act.retry_policy = if faulty { None } else { policy::retry_policy(http.retries.as_ref()) };
}

/// The inbound route config `inbound|PORT||` for an HTTP port of the proxy's own workload
/// (Istio's `BuildDefaultHTTPInboundRoute`): everything to the local app cluster, no timeout,
/// and only `reset-before-request` retries (never for gRPC, whose streams they break).
pub fn inbound_route_config(target_port: u32, protocol: Protocol) -> RouteConfiguration {
    let cluster = names::inbound_cluster(target_port);
    let mut action = RouteAction {
        cluster_specifier: Some(ClusterSpecifier::Cluster(cluster.clone())),
        max_stream_duration: Some(MaxStreamDuration {
            max_stream_duration: Some(no_timeout()),
            grpc_timeout_header_max: Some(no_timeout()),
            ..Default::default()
        }),
        ..Default::default()
    };
    action.timeout = Some(no_timeout());
    if !matches!(protocol, Protocol::Grpc | Protocol::GrpcWeb) {
        action.retry_policy = Some(RetryPolicy {
            num_retries: Some(UInt32Value { value: 2 }),
            retry_on: "reset-before-request".into(),
            ..Default::default()
        });
    }
    let route = Route {
        name: "default".into(),
        r#match: Some(virtual_hosts::prefix_all()),
        decorator: Some(Decorator { operation: format!("{cluster}/*"), propagate: None }),
        action: Some(route::Action::Route(action)),
        ..Default::default()
    };
    let vhost = VirtualHost {
        name: format!("inbound|http|{target_port}"),
        domains: vec!["*".into()],
        routes: vec![route],
        ..Default::default()
    };
    route_config(cluster, vec![vhost])
}

/// The tracing operation (Istio's `GetRouteOperation`): `HOST:PORT/PATH` for one cluster,
/// else `VS:PORT/PATH`.
fn operation(r: &Route, vs_name: &str, port: u32) -> String {
    let path = match r.r#match.as_ref().and_then(|m| m.path_specifier.as_ref()) {
        Some(PathSpecifier::Prefix(p)) => format!("{p}*"),
        Some(PathSpecifier::Path(p)) => p.clone(),
        Some(PathSpecifier::SafeRegex(re)) => re.regex.clone(),
        _ => "/*".into(),
    };
    let cluster = match &r.action {
        Some(route::Action::Route(a)) => match &a.cluster_specifier {
            Some(ClusterSpecifier::Cluster(c)) => names::parse_outbound_cluster(c),
            _ => None,
        },
        _ => None,
    };
    match cluster {
        Some((p, _, host)) => format!("{host}:{p}{path}"),
        None => format!("{vs_name}:{port}{path}"),
    }
}
