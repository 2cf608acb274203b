//! From the Envoy `Node` a proxy presents to a [`Proxy`]: the node id plus metadata
//! (`LABELS`, `SERVICE_ACCOUNT`, `WORKLOAD_NAME`, `OUTBOUND_PORT`, `INTERCEPTION_MODE`,
//! `APP_ADDRESS`), completed from the matching workload in the registry.

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use std::collections::BTreeMap;
use strait_registry::identity::ProxyMetadata;
use strait_registry::{NodeId, Proxy, Registry};

fn string(s: &Struct, key: &str) -> Option<String> {
    match s.fields.get(key)?.kind.as_ref()? {
        Kind::StringValue(v) => Some(v.clone()),
        Kind::NumberValue(n) => Some(n.to_string()),
        _ => None,
    }
}

fn labels(s: &Struct) -> Option<BTreeMap<String, String>> {
    let Kind::StructValue(inner) = s.fields.get("LABELS")?.kind.as_ref()? else { return None };
    Some(
        inner
            .fields
            .iter()
            .filter_map(|(k, v): (&String, &Value)| match v.kind.as_ref()? {
                Kind::StringValue(s) => Some((k.clone(), s.clone())),
                _ => None,
            })
            .collect(),
    )
}

/// Builds the proxy for `node`: parses the id and metadata here (the Envoy edge), then lets
/// the registry match the workload (by namespace and pod, then IP) and fill in the rest.
pub fn proxy_for(node: &Node, registry: &Registry) -> Result<Proxy, String> {
    let id = NodeId::parse(&node.id)?;
    let meta = node.metadata.clone().unwrap_or_default();
    let metadata = ProxyMetadata {
        labels: labels(&meta),
        service_account: string(&meta, "SERVICE_ACCOUNT"),
        workload_name: string(&meta, "WORKLOAD_NAME"),
        outbound_port: string(&meta, "OUTBOUND_PORT").and_then(|p| p.parse().ok()),
        captured: string(&meta, "INTERCEPTION_MODE").is_some_and(|m| m != "NONE"),
        reason_header: string(&meta, "STRAIT_REASON_HEADER").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        app_address: string(&meta, "APP_ADDRESS"),
    };
    Ok(strait_registry::identity::proxy_for(registry, id, &metadata))
}

/// The admin address the proxy announced (node metadata `ADMIN_ADDRESS`).
pub fn admin_address(node: &Node) -> Option<String> {
    string(node.metadata.as_ref()?, "ADMIN_ADDRESS")
}

/// A newly accepted ADS stream: its status-board id, its proxy, and the registry version
/// current when it connected (changes after it count towards convergence time).
pub struct Accepted {
    /// Status-board id.
    pub id: u64,
    /// The proxy.
    pub proxy: Proxy,
    /// Registry version at connect time.
    pub version: u64,
}

/// Accepts a stream on its first request (which must carry the node), for either protocol.
pub fn accept(shared: &crate::Shared, node: Option<&Node>, protocol: &'static str) -> Result<Accepted, String> {
    let node = node.ok_or("the first request must carry a node")?;
    let published = shared.registry.borrow().clone();
    let proxy = proxy_for(node, &published.registry)?;
    let id = shared.status.connect(&node.id, protocol, admin_address(node));
    tracing::info!(proxy = %node.id, protocol, "ADS connected");
    Ok(Accepted { id, proxy, version: published.version })
}
