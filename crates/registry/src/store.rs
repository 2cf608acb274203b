//! The Istio config objects in force, grouped by kind, each with its namespace, and the
//! lookups xDS generation needs (which VirtualServices and DestinationRules apply to a host as
//! seen from a namespace, honouring `exportTo`), plus the Kubernetes Secrets and ConfigMaps
//! that `credentialName` points at. Secret values are key material: [`Credential`]'s `Debug`
//! shows names and keys only, so a logged or printed store never leaks a private key.

use std::collections::BTreeMap;
use std::fmt;
use strait_model::Object;
use strait_model::networking::{
    destination_rule::DestinationRule, gateway::Gateway, service_entry::ServiceEntry, sidecar::Sidecar,
    virtual_service::VirtualService,
};
use strait_model::security::{
    authorization_policy::AuthorizationPolicy, peer_authentication::PeerAuthentication,
    request_authentication::RequestAuthentication,
};

/// The config objects, sorted by (namespace, name) for deterministic output.
#[derive(Clone, Debug, Default)]
#[allow(missing_docs)]
pub struct ConfigStore {
    pub virtual_services: Vec<Object<VirtualService>>,
    pub destination_rules: Vec<Object<DestinationRule>>,
    pub service_entries: Vec<Object<ServiceEntry>>,
    pub gateways: Vec<Object<Gateway>>,
    pub sidecars: Vec<Object<Sidecar>>,
    pub peer_authentications: Vec<Object<PeerAuthentication>>,
    pub authorization_policies: Vec<Object<AuthorizationPolicy>>,
    pub request_authentications: Vec<Object<RequestAuthentication>>,
    /// Kubernetes Secrets (TLS credentials), sorted by (namespace, name).
    pub secrets: Vec<Credential>,
    /// Kubernetes ConfigMaps (CA bundles for `configmap://`), sorted by (namespace, name).
    pub config_maps: Vec<Credential>,
}

impl ConfigStore {
    /// The Secret `namespace/name` (the first one loaded, when duplicated).
    pub fn secret(&self, namespace: &str, name: &str) -> Option<&Credential> {
        find(&self.secrets, namespace, name)
    }

    /// The ConfigMap `namespace/name`.
    pub fn config_map(&self, namespace: &str, name: &str) -> Option<&Credential> {
        find(&self.config_maps, namespace, name)
    }
}

fn find<'a>(sorted: &'a [Credential], namespace: &str, name: &str) -> Option<&'a Credential> {
    let i = sorted.partition_point(|c| (c.namespace.as_str(), c.name.as_str()) < (namespace, name));
    sorted.get(i).filter(|c| c.namespace == namespace && c.name == name)
}

/// The data of a Secret or ConfigMap that TLS credentials are read from: key → bytes.
/// For Secrets `stringData` is merged over `data`, as the API server does on write; for
/// ConfigMaps `data` over `binaryData`. `Debug` never prints the values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credential {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Key → value.
    pub data: BTreeMap<String, Vec<u8>>,
}

impl Credential {
    /// The value of `key`, when present and not empty (Istio's `hasValue`).
    pub fn value(&self, key: &str) -> Option<&[u8]> {
        self.data.get(key).map(Vec::as_slice).filter(|v| !v.is_empty())
    }

    /// True when `key` is present, even empty (Istio's `hasKeys`).
    pub fn has(&self, key: &str) -> bool {
        self.data.contains_key(key)
    }

    /// The keys, for messages (Istio's `truncatedKeysMessage`: the first three, then a count).
    pub fn keys_message(&self) -> String {
        let keys: Vec<&str> = self.data.keys().map(String::as_str).collect();
        if keys.len() < 3 {
            keys.join(", ")
        } else {
            format!("{}, and {} more...", keys[..3].join(", "), keys.len() - 3)
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted: BTreeMap<&str, String> =
            self.data.iter().map(|(k, v)| (k.as_str(), format!("<redacted, {} bytes>", v.len()))).collect();
        f.debug_struct("Credential")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("data", &redacted)
            .finish()
    }
}

/// The namespace of an object (`default` when unset).
pub fn namespace_of<S>(o: &Object<S>) -> &str {
    o.metadata.namespace.as_deref().unwrap_or("default")
}

/// The name of an object.
pub fn name_of<S>(o: &Object<S>) -> &str {
    o.metadata.name.as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_values_and_lookup_is_exact() {
        let c = |ns: &str, name: &str| Credential {
            namespace: ns.into(),
            name: name.into(),
            data: BTreeMap::from([("tls.key".to_string(), b"-----BEGIN PRIVATE KEY----- secret".to_vec())]),
        };
        let store = ConfigStore { secrets: vec![c("a", "x"), c("b", "w"), c("b", "x")], ..Default::default() };
        let shown = format!("{store:?}");
        assert!(!shown.contains("BEGIN") && !shown.contains("secret\""), "{shown}");
        assert!(shown.contains("tls.key") && shown.contains("<redacted, 34 bytes>"), "{shown}");
        assert_eq!(store.secret("b", "x").map(|s| (s.namespace.as_str(), s.name.as_str())), Some(("b", "x")));
        assert!(store.secret("b", "y").is_none() && store.secret("c", "x").is_none());
    }
}
