//! The node this proxy presents on its ADS stream, exactly as `strait proxy --data-plane
//! envoy` writes it into Envoy's bootstrap (id `TYPE~IP~POD.NS~NS.svc.cluster.local`, cluster,
//! string metadata such as `NAMESPACE`, `OUTBOUND_PORT`, `INTERCEPTION_MODE`, and `LABELS` as
//! a struct): the control plane identifies proxies and scopes their config from it.

use envoy_types::pb::envoy::config::core::v3::{Node, node::UserAgentVersionType};
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use std::collections::BTreeMap;

fn string(s: &str) -> Value {
    Value { kind: Some(Kind::StringValue(s.to_string())) }
}

/// Builds the node.
pub fn node(id: &str, cluster: &str, metadata: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> Node {
    let mut fields: std::collections::HashMap<String, Value> =
        metadata.iter().map(|(k, v)| (k.clone(), string(v))).collect();
    let labels = Struct { fields: labels.iter().map(|(k, v)| (k.clone(), string(v))).collect() };
    fields.insert("LABELS".into(), Value { kind: Some(Kind::StructValue(labels)) });
    Node {
        id: id.to_string(),
        cluster: cluster.to_string(),
        metadata: Some(Struct { fields }),
        user_agent_name: "strait-proxy".into(),
        user_agent_version_type: Some(UserAgentVersionType::UserAgentVersion(env!("CARGO_PKG_VERSION").into())),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_a_struct_and_metadata_strings() {
        let md = BTreeMap::from([("NAMESPACE".to_string(), "default".to_string())]);
        let labels = BTreeMap::from([("app".to_string(), "productpage".to_string())]);
        let n = node("sidecar~127.0.0.1~p.default~default.svc.cluster.local", "strait", &md, &labels);
        let fields = &n.metadata.expect("metadata").fields;
        assert_eq!(fields["NAMESPACE"], string("default"));
        let Some(Kind::StructValue(l)) = &fields["LABELS"].kind else { panic!("LABELS is a struct") };
        assert_eq!(l.fields["app"], string("productpage"));
    }
}
