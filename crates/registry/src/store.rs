//! The Istio config objects in force, grouped by kind, each with its namespace, and the
//! lookups xDS generation needs (which VirtualServices and DestinationRules apply to a host as
//! seen from a namespace, honouring `exportTo`).

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
}

/// The namespace of an object (`default` when unset).
pub fn namespace_of<S>(o: &Object<S>) -> &str {
    o.metadata.namespace.as_deref().unwrap_or("default")
}

/// The name of an object.
pub fn name_of<S>(o: &Object<S>) -> &str {
    o.metadata.name.as_deref().unwrap_or_default()
}
