//! `/config_dump`: the xDS resources the proxy holds, in the shape of Envoy's config dump
//! (`ClustersConfigDump`, `ListenersConfigDump`, `RoutesConfigDump`, `EndpointsConfigDump`,
//! each resource with its version and the type's last NACK), so `strait proxy-config` and
//! istioctl-style tools read it as they read Envoy's. envoy-types has no JSON support and a
//! descriptor-driven dump (prost-reflect) costs ~50 MB of resident memory once used, so the
//! resources are rendered by hand, with the fields tools and people read: names, addresses,
//! discovery types, filter chains and their filters (HTTP connection manager and TCP proxy in
//! detail, others by type), virtual hosts, route matches and actions, endpoints with health,
//! weight and metadata. Other fields are left out, and the document says so (`strait_note`).

use crate::state::State;
use crate::state::store::{Entry, Store};
use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster,
    cluster::{ClusterDiscoveryType, DiscoveryType, LbPolicy},
};
use envoy_types::pb::envoy::config::core::v3::{Address, Metadata, address, socket_address::PortSpecifier};
use envoy_types::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, lb_endpoint::HostIdentifier};
use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, Listener, filter};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteConfiguration, route::Action, route_action::ClusterSpecifier, route_match::PathSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::google::protobuf::{Any, Duration, Struct, value::Kind};
use prost::{Message, Name};
use serde_json::{Map, Value, json};

const NOTE: &str = "Strait proxy config dump: every resource held, with the fields tools read (names, addresses, \
discovery, filter chains, routes, endpoints); fields Strait does not render are left out";

/// The document.
pub fn render(state: &State) -> Value {
    let summary = state.config_dump();
    let nack = |ty: &str| {
        summary["configs"]
            .as_array()
            .and_then(|c| c.iter().find(|s| s["@type"].as_str() == Some(ty)))
            .map_or(Value::Null, |s| s["last_nack"].clone())
    };
    let section = |ty: &'static str, key: &str, items: Vec<Value>| {
        let at = format!("type.googleapis.com/envoy.admin.v3.{ty}");
        json!({"@type": at, key: items, "last_nack": nack(&at)})
    };
    state.with_store(|store: &Store| {
        json!({
            "strait_note": NOTE,
            "configs": [
                section("ClustersConfigDump", "dynamic_active_clusters", each(&store.clusters, |v, c: Cluster| {
                    json!({"version_info": v, "cluster": cluster(&c)})
                })),
                section("ListenersConfigDump", "dynamic_listeners", each(&store.listeners, |v, l: Listener| {
                    json!({"name": l.name, "active_state": {"version_info": v, "listener": listener(&l)}})
                })),
                section("RoutesConfigDump", "dynamic_route_configs", each(&store.routes, |v, r: RouteConfiguration| {
                    json!({"version_info": v, "route_config": route_config(&r)})
                })),
                section("EndpointsConfigDump", "dynamic_endpoint_configs", each(&store.endpoints, |v, e: ClusterLoadAssignment| {
                    json!({"version_info": v, "endpoint_config": assignment(&e)})
                })),
            ]
        })
    })
}

/// Decodes and renders every entry of one map.
fn each<T, M: Message + Default>(
    map: &std::collections::BTreeMap<String, Entry<T>>,
    f: impl Fn(&str, M) -> Value,
) -> Vec<Value> {
    map.values().filter_map(|e| M::decode(e.raw.value.as_slice()).ok().map(|m| f(&e.version, m))).collect()
}

/// Adds `value` under `key` unless it is empty (proto3 JSON leaves defaults out).
fn put(m: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => n.as_u64() == Some(0),
        Value::Bool(b) => !b,
    };
    if !empty {
        m.insert(key.into(), value);
    }
}

fn duration(d: Option<&Duration>) -> Value {
    d.map_or(Value::Null, |d| {
        if d.nanos == 0 {
            json!(format!("{}s", d.seconds))
        } else {
            json!(format!("{:.3}s", d.seconds as f64 + f64::from(d.nanos) / 1e9))
        }
    })
}

fn address(a: Option<&Address>) -> Value {
    match a.and_then(|a| a.address.as_ref()) {
        Some(address::Address::SocketAddress(sa)) => {
            let port = match sa.port_specifier {
                Some(PortSpecifier::PortValue(p)) => json!(p),
                _ => Value::Null,
            };
            json!({"socket_address": {"address": sa.address, "port_value": port}})
        }
        Some(address::Address::Pipe(p)) => json!({"pipe": {"path": p.path}}),
        _ => Value::Null,
    }
}

/// A protobuf `Struct` as JSON.
fn structure(s: &Struct) -> Value {
    Value::Object(s.fields.iter().map(|(k, v)| (k.clone(), value(v.kind.as_ref()))).collect())
}

fn value(k: Option<&Kind>) -> Value {
    match k {
        Some(Kind::StringValue(s)) => json!(s),
        Some(Kind::NumberValue(n)) => json!(n),
        Some(Kind::BoolValue(b)) => json!(b),
        Some(Kind::StructValue(s)) => structure(s),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(|v| value(v.kind.as_ref())).collect()),
        Some(Kind::NullValue(_)) | None => Value::Null,
    }
}

fn metadata(m: Option<&Metadata>) -> Value {
    let Some(m) = m else { return Value::Null };
    let mut fm: Vec<(&String, &Struct)> = m.filter_metadata.iter().collect();
    fm.sort_by_key(|(k, _)| *k);
    let fm: Map<String, Value> = fm.into_iter().map(|(k, s)| (k.clone(), structure(s))).collect();
    if fm.is_empty() { Value::Null } else { json!({"filter_metadata": fm}) }
}

fn typed(any: &Any, body: Value) -> Value {
    let mut m = Map::new();
    m.insert("@type".into(), json!(any.type_url));
    if let Value::Object(o) = body {
        m.extend(o);
    }
    Value::Object(m)
}

fn cluster(c: &Cluster) -> Value {
    let mut m = Map::new();
    put(&mut m, "@type", json!(Cluster::type_url()));
    put(&mut m, "name", json!(c.name));
    put(&mut m, "alt_stat_name", json!(c.alt_stat_name));
    if let Some(ClusterDiscoveryType::Type(t)) = c.cluster_discovery_type {
        let ty = DiscoveryType::try_from(t).map_or("UNKNOWN", |t| t.as_str_name());
        put(&mut m, "type", json!(ty));
    }
    if let Some(e) = &c.eds_cluster_config {
        put(
            &mut m,
            "eds_cluster_config",
            json!({"eds_config": {"ads": {}, "resource_api_version": "V3"}, "service_name": e.service_name}),
        );
    }
    put(&mut m, "connect_timeout", duration(c.connect_timeout.as_ref()));
    if c.lb_policy != 0 {
        put(&mut m, "lb_policy", json!(LbPolicy::try_from(c.lb_policy).map_or("UNKNOWN", |p| p.as_str_name())));
    }
    if let Some(cb) = &c.circuit_breakers {
        let thresholds: Vec<Value> = cb
            .thresholds
            .iter()
            .map(|t| {
                let mut o = Map::new();
                for (k, v) in [
                    ("max_connections", &t.max_connections),
                    ("max_pending_requests", &t.max_pending_requests),
                    ("max_requests", &t.max_requests),
                    ("max_retries", &t.max_retries),
                ] {
                    if let Some(v) = v {
                        o.insert(k.into(), json!(v.value));
                    }
                }
                Value::Object(o)
            })
            .collect();
        put(&mut m, "circuit_breakers", json!({"thresholds": thresholds}));
    }
    put(&mut m, "load_assignment", c.load_assignment.as_ref().map_or(Value::Null, assignment));
    put(&mut m, "metadata", metadata(c.metadata.as_ref()));
    let options: Vec<&String> = c.typed_extension_protocol_options.keys().collect();
    put(
        &mut m,
        "typed_extension_protocol_options",
        json!(options.into_iter().map(|k| (k.clone(), json!({}))).collect::<Map<_, _>>()),
    );
    Value::Object(m)
}

fn listener(l: &Listener) -> Value {
    let mut m = Map::new();
    put(&mut m, "@type", json!(Listener::type_url()));
    put(&mut m, "name", json!(l.name));
    put(&mut m, "address", address(l.address.as_ref()));
    put(&mut m, "filter_chains", Value::Array(l.filter_chains.iter().map(chain).collect()));
    put(&mut m, "default_filter_chain", l.default_filter_chain.as_ref().map_or(Value::Null, chain));
    put(&mut m, "listener_filters", Value::Array(l.listener_filters.iter().map(|f| json!({"name": f.name})).collect()));
    put(&mut m, "use_original_dst", json!(l.use_original_dst.as_ref().is_some_and(|b| b.value)));
    if l.traffic_direction != 0 {
        let d = envoy_types::pb::envoy::config::core::v3::TrafficDirection::try_from(l.traffic_direction);
        put(&mut m, "traffic_direction", json!(d.map_or("UNSPECIFIED", |d| d.as_str_name())));
    }
    Value::Object(m)
}

fn chain(c: &FilterChain) -> Value {
    let mut m = Map::new();
    put(&mut m, "name", json!(c.name));
    if let Some(fcm) = &c.filter_chain_match {
        let mut o = Map::new();
        put(&mut o, "destination_port", fcm.destination_port.as_ref().map_or(Value::Null, |p| json!(p.value)));
        put(&mut o, "transport_protocol", json!(fcm.transport_protocol));
        put(&mut o, "application_protocols", json!(fcm.application_protocols));
        put(&mut o, "server_names", json!(fcm.server_names));
        put(&mut m, "filter_chain_match", Value::Object(o));
    }
    put(&mut m, "filters", Value::Array(c.filters.iter().map(network_filter).collect()));
    Value::Object(m)
}

fn network_filter(f: &Filter) -> Value {
    let Some(filter::ConfigType::TypedConfig(any)) = &f.config_type else { return json!({"name": f.name}) };
    let config = if any.type_url == HttpConnectionManager::type_url() {
        HttpConnectionManager::decode(any.value.as_slice()).map(|h| hcm(&h)).unwrap_or_default()
    } else if any.type_url == TcpProxy::type_url() {
        TcpProxy::decode(any.value.as_slice()).map(|t| tcp(&t)).unwrap_or_default()
    } else {
        Value::Null
    };
    json!({"name": f.name, "typed_config": typed(any, config)})
}

fn hcm(h: &HttpConnectionManager) -> Value {
    let mut m = Map::new();
    put(&mut m, "stat_prefix", json!(h.stat_prefix));
    match &h.route_specifier {
        Some(RouteSpecifier::Rds(r)) => {
            put(
                &mut m,
                "rds",
                json!({"config_source": {"ads": {}, "resource_api_version": "V3"}, "route_config_name": r.route_config_name}),
            );
        }
        Some(RouteSpecifier::RouteConfig(rc)) => put(&mut m, "route_config", route_config(rc)),
        _ => {}
    }
    put(&mut m, "http_filters", Value::Array(h.http_filters.iter().map(|f| json!({"name": f.name})).collect()));
    put(&mut m, "access_log", Value::Array(h.access_log.iter().map(|a| json!({"name": a.name})).collect()));
    let upgrades: Vec<Value> = h.upgrade_configs.iter().map(|u| json!({"upgrade_type": u.upgrade_type})).collect();
    put(&mut m, "upgrade_configs", Value::Array(upgrades));
    Value::Object(m)
}

fn tcp(t: &TcpProxy) -> Value {
    let mut m = Map::new();
    put(&mut m, "stat_prefix", json!(t.stat_prefix));
    match &t.cluster_specifier {
        Some(tcp_proxy::ClusterSpecifier::Cluster(c)) => put(&mut m, "cluster", json!(c)),
        Some(tcp_proxy::ClusterSpecifier::WeightedClusters(w)) => {
            let clusters: Vec<Value> = w.clusters.iter().map(|c| json!({"name": c.name, "weight": c.weight})).collect();
            put(&mut m, "weighted_clusters", json!({"clusters": clusters}));
        }
        None => {}
    }
    put(&mut m, "access_log", Value::Array(t.access_log.iter().map(|a| json!({"name": a.name})).collect()));
    Value::Object(m)
}

fn route_config(r: &RouteConfiguration) -> Value {
    let hosts: Vec<Value> = r
        .virtual_hosts
        .iter()
        .map(|vh| json!({"name": vh.name, "domains": vh.domains, "routes": vh.routes.iter().map(route).collect::<Vec<_>>()}))
        .collect();
    let mut m = Map::new();
    put(&mut m, "@type", json!(RouteConfiguration::type_url()));
    put(&mut m, "name", json!(r.name));
    put(&mut m, "virtual_hosts", Value::Array(hosts));
    put(&mut m, "validate_clusters", json!(r.validate_clusters.as_ref().is_some_and(|b| b.value)));
    Value::Object(m)
}

fn route(r: &Route) -> Value {
    let mut m = Map::new();
    put(&mut m, "name", json!(r.name));
    if let Some(rm) = &r.r#match {
        let mut o = Map::new();
        match &rm.path_specifier {
            Some(PathSpecifier::Prefix(p)) => o.insert("prefix".into(), json!(p)),
            Some(PathSpecifier::Path(p)) => o.insert("path".into(), json!(p)),
            Some(PathSpecifier::SafeRegex(re)) => o.insert("safe_regex".into(), json!({"regex": re.regex})),
            _ => None,
        };
        let headers: Vec<Value> = rm.headers.iter().map(|h| json!({"name": h.name})).collect();
        put(&mut o, "headers", Value::Array(headers));
        m.insert("match".into(), Value::Object(o));
    }
    match &r.action {
        Some(Action::Route(a)) => {
            let mut o = Map::new();
            match &a.cluster_specifier {
                Some(ClusterSpecifier::Cluster(c)) => put(&mut o, "cluster", json!(c)),
                Some(ClusterSpecifier::WeightedClusters(w)) => {
                    let clusters: Vec<Value> = w
                        .clusters
                        .iter()
                        .map(|c| json!({"name": c.name, "weight": c.weight.as_ref().map(|w| w.value)}))
                        .collect();
                    put(&mut o, "weighted_clusters", json!({"clusters": clusters}));
                }
                Some(ClusterSpecifier::ClusterHeader(h)) => put(&mut o, "cluster_header", json!(h)),
                _ => {}
            }
            put(&mut o, "timeout", duration(a.timeout.as_ref()));
            put(&mut o, "prefix_rewrite", json!(a.prefix_rewrite));
            if let Some(rp) = &a.retry_policy {
                let retries = rp.num_retries.as_ref().map(|n| n.value);
                put(&mut o, "retry_policy", json!({"retry_on": rp.retry_on, "num_retries": retries}));
            }
            m.insert("route".into(), Value::Object(o));
        }
        Some(Action::DirectResponse(d)) => {
            m.insert("direct_response".into(), json!({"status": d.status}));
        }
        Some(Action::Redirect(_)) => {
            m.insert("redirect".into(), json!({}));
        }
        _ => {}
    }
    put(&mut m, "metadata", metadata(r.metadata.as_ref()));
    Value::Object(m)
}

fn assignment(a: &ClusterLoadAssignment) -> Value {
    let localities: Vec<Value> = a
        .endpoints
        .iter()
        .map(|l| {
            let eps: Vec<Value> = l
                .lb_endpoints
                .iter()
                .map(|e| {
                    let mut o = Map::new();
                    if let Some(HostIdentifier::Endpoint(ep)) = &e.host_identifier {
                        o.insert("endpoint".into(), json!({"address": address(ep.address.as_ref())}));
                    }
                    if e.health_status != 0 {
                        let h = envoy_types::pb::envoy::config::core::v3::HealthStatus::try_from(e.health_status);
                        put(&mut o, "health_status", json!(h.map_or("UNKNOWN", |h| h.as_str_name())));
                    }
                    put(&mut o, "metadata", metadata(e.metadata.as_ref()));
                    put(
                        &mut o,
                        "load_balancing_weight",
                        e.load_balancing_weight.as_ref().map_or(Value::Null, |w| json!(w.value)),
                    );
                    Value::Object(o)
                })
                .collect();
            let mut o = Map::new();
            if let Some(loc) = &l.locality {
                let mut lo = Map::new();
                put(&mut lo, "region", json!(loc.region));
                put(&mut lo, "zone", json!(loc.zone));
                put(&mut lo, "sub_zone", json!(loc.sub_zone));
                put(&mut o, "locality", Value::Object(lo));
            }
            o.insert("lb_endpoints".into(), Value::Array(eps));
            Value::Object(o)
        })
        .collect();
    json!({"@type": ClusterLoadAssignment::type_url(), "cluster_name": a.cluster_name, "endpoints": localities})
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::route::v3::{RouteAction, RouteMatch, VirtualHost};

    #[test]
    fn routes_render_with_the_fields_tools_read() {
        let r = RouteConfiguration {
            name: "9080".into(),
            virtual_hosts: vec![VirtualHost {
                name: "reviews:9080".into(),
                domains: vec!["reviews".into()],
                routes: vec![Route {
                    name: "default".into(),
                    r#match: Some(RouteMatch {
                        path_specifier: Some(PathSpecifier::Prefix("/".into())),
                        ..Default::default()
                    }),
                    action: Some(Action::Route(RouteAction {
                        cluster_specifier: Some(ClusterSpecifier::Cluster("outbound|9080||reviews".into())),
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let v = route_config(&r);
        assert_eq!(v["name"], "9080");
        let route = &v["virtual_hosts"][0]["routes"][0];
        assert_eq!(route["match"]["prefix"], "/");
        assert_eq!(route["route"]["cluster"], "outbound|9080||reviews");
        assert!(route.get("metadata").is_none(), "empty fields are left out: {route}");
        assert_eq!(duration(Some(&Duration { seconds: 1, nanos: 500_000_000 })), json!("1.500s"));
    }
}
