//! From the Envoy `Node` a proxy presents to a [`Proxy`]: the node id plus metadata
//! (`LABELS`, `SERVICE_ACCOUNT`, `WORKLOAD_NAME`, `OUTBOUND_PORT`, `INTERCEPTION_MODE`,
//! `APP_ADDRESS`), completed from the matching workload in the registry.

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use std::collections::BTreeMap;
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

/// Builds the proxy for `node`, matching its workload by (namespace, pod) then by IP.
pub fn proxy_for(node: &Node, registry: &Registry) -> Result<Proxy, String> {
    let id = NodeId::parse(&node.id)?;
    let meta = node.metadata.clone().unwrap_or_default();
    let workload = registry
        .workloads
        .iter()
        .find(|w| w.namespace == id.namespace && w.name == id.pod)
        .or_else(|| registry.workloads.iter().find(|w| w.ip == id.ip));
    let labels = labels(&meta).or_else(|| workload.map(|w| w.labels.clone())).unwrap_or_default();
    let service_account = string(&meta, "SERVICE_ACCOUNT")
        .or_else(|| workload.map(|w| w.service_account.clone()))
        .unwrap_or_else(|| "default".into());
    let outbound_port = string(&meta, "OUTBOUND_PORT").and_then(|p| p.parse().ok()).unwrap_or(15001);
    Ok(Proxy {
        labels,
        service_account,
        workload_name: string(&meta, "WORKLOAD_NAME").unwrap_or_else(|| id.pod.clone()),
        outbound_port,
        captured: string(&meta, "INTERCEPTION_MODE").is_some_and(|m| m != "NONE"),
        app_address: string(&meta, "APP_ADDRESS").unwrap_or_else(|| "127.0.0.1".into()),
        id,
    })
}
