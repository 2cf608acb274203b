//! The Envoy bootstrap, as pilot-agent writes it: node id and metadata, admin on 127.0.0.1,
//! ADS (SotW or Delta) to the control plane through the static `xds-grpc` cluster, and a static
//! health listener serving `/healthz/ready` from Envoy's own `/ready` (Istio's 15021).

use serde_json::{Value, json};
use std::collections::BTreeMap;

/// What the bootstrap needs.
pub struct Settings {
    /// Node id (`sidecar~IP~POD.NS~NS.svc.cluster.local`).
    pub node_id: String,
    /// Workload labels.
    pub labels: BTreeMap<String, String>,
    /// Extra node metadata (SERVICE_ACCOUNT, OUTBOUND_PORT, INTERCEPTION_MODE, …).
    pub metadata: BTreeMap<String, String>,
    /// Control plane xDS address (host, port).
    pub xds: (String, u16),
    /// Admin port (on 127.0.0.1).
    pub admin_port: u16,
    /// Health listener address (the proxy IP) and port.
    pub health: (String, u16),
    /// Delta xDS instead of State-of-the-World.
    pub delta: bool,
}

fn socket(address: &str, port: u16) -> Value {
    json!({"socket_address": {"address": address, "port_value": port}})
}

fn static_cluster(name: &str, address: &str, port: u16, http2: bool) -> Value {
    let mut c = json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket(address, port)}}]}]}
    });
    if http2 {
        c["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}
            }
        });
    }
    c
}

fn health_listener(s: &Settings) -> Value {
    json!({
        "name": "health",
        "address": socket(&s.health.0, s.health.1),
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": "health",
                "route_config": {"name": "health", "virtual_hosts": [{
                    "name": "health", "domains": ["*"],
                    "routes": [{"match": {"path": "/healthz/ready"}, "route": {"cluster": "admin", "prefix_rewrite": "/ready"}}]
                }]},
                "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]
            }
        }]}]
    })
}

/// The bootstrap as JSON.
pub fn render(s: &Settings) -> Value {
    let mut metadata: serde_json::Map<String, Value> = s.metadata.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    metadata.insert("LABELS".into(), json!(s.labels));
    let ads = |_: ()| json!({"ads": {}, "resource_api_version": "V3"});
    json!({
        "node": {"id": s.node_id, "cluster": "strait", "metadata": metadata},
        "admin": {"address": socket("127.0.0.1", s.admin_port)},
        "dynamic_resources": {
            "ads_config": {
                "api_type": if s.delta { "DELTA_GRPC" } else { "GRPC" },
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}],
                "set_node_on_first_message_only": true
            },
            "cds_config": ads(()),
            "lds_config": ads(())
        },
        // Istio's runtime layer: RE2 programs up to 32768 (Envoy's default limit is 100, so
        // ordinary route regexes would be rejected), and no global connection cap warning.
        "layered_runtime": {"layers": [{"name": "global config", "static_layer": {
            "re2.max_program_size.error_level": 32768,
            "overload.global_downstream_max_connections": 2147483647
        }}]},
        "static_resources": {
            "clusters": [static_cluster("xds-grpc", &s.xds.0, s.xds.1, true), static_cluster("admin", "127.0.0.1", s.admin_port, false)],
            "listeners": [health_listener(s)]
        }
    })
}
