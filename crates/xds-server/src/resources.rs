//! A generated [`Snapshot`] viewed by xDS type URL: named, packed resources plus a content
//! hash per resource, so streams can tell what changed since the last push.

use envoy_types::pb::google::protobuf::Any;
use prost::Message;
use std::collections::BTreeMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use strait_xds::Snapshot;
use strait_xds::any::pack;

/// CDS type URL.
pub const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
/// EDS type URL.
pub const ENDPOINT: &str = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
/// LDS type URL.
pub const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
/// RDS type URL.
pub const ROUTE: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
/// SDS type URL (`credentialName` secrets).
pub const SECRET: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/// The push order that keeps Envoy from referencing what it has not got yet. Secrets go
/// before listeners: when a certificate changes together with a listener that uses it, the
/// new listener then warms with the new certificate, never the old one. (Secrets a listener
/// newly references are asked for by Envoy once it has the listener, and sent then.)
pub const ORDER: [&str; 5] = [CLUSTER, ENDPOINT, SECRET, LISTENER, ROUTE];

/// Short name of a type URL, as istioctl prints it.
pub fn short(type_url: &str) -> &'static str {
    match type_url {
        CLUSTER => "CDS",
        ENDPOINT => "EDS",
        LISTENER => "LDS",
        ROUTE => "RDS",
        SECRET => "SDS",
        _ => "UNKNOWN",
    }
}

/// One packed resource.
#[derive(Clone, Debug)]
pub struct Packed {
    /// The resource.
    pub any: Any,
    /// Hash of its encoding.
    pub hash: u64,
}

fn packed<M: prost::Name + Message>(m: &M) -> Packed {
    let any = pack(m);
    let mut h = DefaultHasher::new();
    any.value.hash(&mut h);
    Packed { hash: h.finish(), any }
}

/// Resources of `type_url` in `snap`, by name.
pub fn of_type(snap: &Snapshot, type_url: &str) -> BTreeMap<String, Packed> {
    match type_url {
        CLUSTER => snap.clusters.iter().map(|c| (c.name.clone(), packed(c))).collect(),
        ENDPOINT => snap.endpoints.iter().map(|e| (e.cluster_name.clone(), packed(e))).collect(),
        LISTENER => snap.listeners.iter().map(|l| (l.name.clone(), packed(l))).collect(),
        ROUTE => snap.routes.iter().map(|r| (r.name.clone(), packed(r))).collect(),
        SECRET => snap.secrets.iter().map(|s| (s.name.clone(), packed(s))).collect(),
        _ => BTreeMap::new(),
    }
}

/// A generated snapshot, packed: type URL → name → resource. A stream keeps this (not the
/// message structs, which are several times larger) until its proxy has ACKed everything.
pub type PackedSnapshot = BTreeMap<&'static str, BTreeMap<String, Packed>>;

/// Packs every type of `snap`.
pub fn pack_all(snap: &Snapshot) -> PackedSnapshot {
    ORDER.iter().map(|ty| (*ty, of_type(snap, ty))).collect()
}

/// True for types whose requests name resources (EDS, RDS, SDS); CDS and LDS are wildcard.
pub fn is_named(type_url: &str) -> bool {
    matches!(type_url, ENDPOINT | ROUTE | SECRET)
}

/// Combined hash of a set of resources (to decide whether a SotW push is needed).
pub fn set_hash<'a>(items: impl Iterator<Item = (&'a String, &'a Packed)>) -> u64 {
    let mut h = DefaultHasher::new();
    for (name, p) in items {
        name.hash(&mut h);
        p.hash.hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::Secret;

    #[test]
    fn secrets_are_named_and_pushed_before_listeners() {
        let pos = |t: &str| ORDER.iter().position(|o| *o == t);
        assert!(pos(SECRET) < pos(LISTENER) && pos(CLUSTER) < pos(SECRET), "{ORDER:?}");
        assert!(is_named(SECRET) && !is_named(LISTENER));
        assert_eq!(short(SECRET), "SDS");
        let snap =
            Snapshot { secrets: vec![Secret { name: "kubernetes://a".into(), r#type: None }], ..Default::default() };
        let got = of_type(&snap, SECRET);
        assert_eq!(got.keys().collect::<Vec<_>>(), ["kubernetes://a"]);
        assert_eq!(got["kubernetes://a"].any.type_url, SECRET);
    }
}
