//! [`Resource`]: one decoded, typed resource of any supported kind, and the dispatch from a
//! [`Kind`] to its Rust type. Decoding is generic over the serde `Deserializer`, so the loader
//! can wrap it with path tracking without the model knowing about files.

use crate::kind::Kind;
use crate::mesh::MeshConfig;
use crate::networking::{
    destination_rule::DestinationRule, gateway::Gateway, service_entry::ServiceEntry, sidecar::Sidecar,
    virtual_service::VirtualService, workload_entry::WorkloadEntry, workload_group::WorkloadGroup,
};
use crate::object::{Object, validate_metadata};
use crate::path::FieldPath;
use crate::security::{
    authorization_policy::AuthorizationPolicy, peer_authentication::PeerAuthentication,
    request_authentication::RequestAuthentication,
};
use crate::validation::{Context, Issue, Validate, Validator};
use k8s_openapi::api::{apps::v1 as apps, core::v1 as core, discovery::v1 as discovery};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Deserializer};

/// A typed resource.
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub enum Resource {
    VirtualService(Object<VirtualService>),
    DestinationRule(Object<DestinationRule>),
    ServiceEntry(Object<ServiceEntry>),
    WorkloadEntry(Object<WorkloadEntry>),
    WorkloadGroup(Object<WorkloadGroup>),
    Gateway(Object<Gateway>),
    Sidecar(Object<Sidecar>),
    PeerAuthentication(Object<PeerAuthentication>),
    AuthorizationPolicy(Object<AuthorizationPolicy>),
    RequestAuthentication(Object<RequestAuthentication>),
    Namespace(core::Namespace),
    ServiceAccount(core::ServiceAccount),
    Service(core::Service),
    Endpoints(core::Endpoints),
    EndpointSlice(discovery::EndpointSlice),
    Pod(core::Pod),
    Deployment(apps::Deployment),
    Secret(core::Secret),
    ConfigMap(core::ConfigMap),
    /// Mesh-wide settings, from the `istio` ConfigMap's `mesh` key or a standalone file.
    MeshConfig(MeshConfig),
}

macro_rules! each_variant {
    ($self:expr, $obj:ident => $body:expr, mesh => $mesh:expr) => {
        match $self {
            Resource::VirtualService($obj) => $body,
            Resource::DestinationRule($obj) => $body,
            Resource::ServiceEntry($obj) => $body,
            Resource::WorkloadEntry($obj) => $body,
            Resource::WorkloadGroup($obj) => $body,
            Resource::Gateway($obj) => $body,
            Resource::Sidecar($obj) => $body,
            Resource::PeerAuthentication($obj) => $body,
            Resource::AuthorizationPolicy($obj) => $body,
            Resource::RequestAuthentication($obj) => $body,
            Resource::Namespace($obj) => $body,
            Resource::ServiceAccount($obj) => $body,
            Resource::Service($obj) => $body,
            Resource::Endpoints($obj) => $body,
            Resource::EndpointSlice($obj) => $body,
            Resource::Pod($obj) => $body,
            Resource::Deployment($obj) => $body,
            Resource::Secret($obj) => $body,
            Resource::ConfigMap($obj) => $body,
            Resource::MeshConfig(_) => $mesh,
        }
    };
}

static EMPTY_META: std::sync::LazyLock<ObjectMeta> = std::sync::LazyLock::new(ObjectMeta::default);

impl Resource {
    /// Decodes a document of `kind` from any serde deserializer.
    pub fn decode<'de, D: Deserializer<'de>>(kind: Kind, d: D) -> Result<Self, D::Error> {
        Ok(match kind {
            Kind::VirtualService => Resource::VirtualService(Deserialize::deserialize(d)?),
            Kind::DestinationRule => Resource::DestinationRule(Deserialize::deserialize(d)?),
            Kind::ServiceEntry => Resource::ServiceEntry(Deserialize::deserialize(d)?),
            Kind::WorkloadEntry => Resource::WorkloadEntry(Deserialize::deserialize(d)?),
            Kind::WorkloadGroup => Resource::WorkloadGroup(Deserialize::deserialize(d)?),
            Kind::Gateway => Resource::Gateway(Deserialize::deserialize(d)?),
            Kind::Sidecar => Resource::Sidecar(Deserialize::deserialize(d)?),
            Kind::PeerAuthentication => Resource::PeerAuthentication(Deserialize::deserialize(d)?),
            Kind::AuthorizationPolicy => Resource::AuthorizationPolicy(Deserialize::deserialize(d)?),
            Kind::RequestAuthentication => Resource::RequestAuthentication(Deserialize::deserialize(d)?),
            Kind::Namespace => Resource::Namespace(Deserialize::deserialize(d)?),
            Kind::ServiceAccount => Resource::ServiceAccount(Deserialize::deserialize(d)?),
            Kind::Service => Resource::Service(Deserialize::deserialize(d)?),
            Kind::Endpoints => Resource::Endpoints(Deserialize::deserialize(d)?),
            Kind::EndpointSlice => Resource::EndpointSlice(Deserialize::deserialize(d)?),
            Kind::Pod => Resource::Pod(Deserialize::deserialize(d)?),
            Kind::Deployment => Resource::Deployment(Deserialize::deserialize(d)?),
            Kind::Secret => Resource::Secret(Deserialize::deserialize(d)?),
            Kind::ConfigMap => Resource::ConfigMap(Deserialize::deserialize(d)?),
        })
    }

    /// The resource's kind (`None` for mesh config, which is not a Kubernetes kind).
    pub fn kind(&self) -> Option<Kind> {
        Some(match self {
            Resource::VirtualService(_) => Kind::VirtualService,
            Resource::DestinationRule(_) => Kind::DestinationRule,
            Resource::ServiceEntry(_) => Kind::ServiceEntry,
            Resource::WorkloadEntry(_) => Kind::WorkloadEntry,
            Resource::WorkloadGroup(_) => Kind::WorkloadGroup,
            Resource::Gateway(_) => Kind::Gateway,
            Resource::Sidecar(_) => Kind::Sidecar,
            Resource::PeerAuthentication(_) => Kind::PeerAuthentication,
            Resource::AuthorizationPolicy(_) => Kind::AuthorizationPolicy,
            Resource::RequestAuthentication(_) => Kind::RequestAuthentication,
            Resource::Namespace(_) => Kind::Namespace,
            Resource::ServiceAccount(_) => Kind::ServiceAccount,
            Resource::Service(_) => Kind::Service,
            Resource::Endpoints(_) => Kind::Endpoints,
            Resource::EndpointSlice(_) => Kind::EndpointSlice,
            Resource::Pod(_) => Kind::Pod,
            Resource::Deployment(_) => Kind::Deployment,
            Resource::Secret(_) => Kind::Secret,
            Resource::ConfigMap(_) => Kind::ConfigMap,
            Resource::MeshConfig(_) => return None,
        })
    }

    /// The resource's metadata (empty for mesh config).
    pub fn metadata(&self) -> &ObjectMeta {
        each_variant!(self, o => &o.metadata, mesh => &EMPTY_META)
    }

    /// The resource as JSON, as `kubectl get -o json` would show it (for config dumps and
    /// round-trip tests).
    pub fn to_json(&self) -> serde_json::Value {
        let value = each_variant!(self, o => serde_json::to_value(o), mesh => match self {
            Resource::MeshConfig(m) => serde_json::to_value(m),
            _ => Ok(serde_json::Value::Null),
        });
        value.unwrap_or(serde_json::Value::Null)
    }

    /// Sets the namespace when the document has none (as `kubectl apply -n NS` would).
    pub fn default_namespace(&mut self, ns: &str) {
        let is_namespaced = self.kind().is_some_and(Kind::is_namespaced);
        let meta = each_variant!(self, o => &mut o.metadata, mesh => return);
        if is_namespaced && meta.namespace.as_deref().is_none_or(str::is_empty) {
            meta.namespace = Some(ns.to_string());
        }
    }

    /// Validates metadata and spec; returns every issue found.
    pub fn validate(&self) -> Vec<Issue> {
        let ns = self.metadata().namespace.clone().unwrap_or_else(|| "default".into());
        let ctx = Context { namespace: ns };
        let mut v = Validator::new(&ctx, FieldPath::root());
        if let Some(kind) = self.kind() {
            validate_metadata(self.metadata(), kind.is_namespaced(), kind.is_istio(), &mut v);
        }
        match self {
            Resource::VirtualService(o) => v.field("spec", |v| o.spec.validate(v)),
            Resource::DestinationRule(o) => v.field("spec", |v| o.spec.validate(v)),
            Resource::ServiceEntry(o) => v.field("spec", |v| o.spec.validate(v)),
            Resource::WorkloadEntry(o) => v.field("spec", |v| o.spec.validate(v)),
            Resource::WorkloadGroup(o) => v.field("spec", |v| o.spec.validate(v)),
            Resource::Gateway(o) => {
                gateway_name(o.metadata.name.as_deref().unwrap_or_default(), &mut v);
                v.field("spec", |v| o.spec.validate(v));
            }
            Resource::Sidecar(o) => v.field("spec", |v| o.spec.validate(v)),
            Resource::PeerAuthentication(o) => v.field("spec", |v| o.spec.validate(v)),
            Resource::AuthorizationPolicy(o) => v.field("spec", |v| o.spec.validate(v)),
            Resource::RequestAuthentication(o) => v.field("spec", |v| o.spec.validate(v)),
            Resource::MeshConfig(m) => m.validate(&mut v),
            other => crate::k8s::validate(other, &mut v),
        }
        v.into_issues()
    }
}

/// Istio's `ValidateGateway` requires the name to be a DNS-1123 label (it becomes part of
/// generated listener and route names).
fn gateway_name(name: &str, v: &mut Validator<'_>) {
    if !name.is_empty() && !crate::validation::rules::is_dns1123_label(name) {
        v.field("metadata", |v| v.error_at("name", format!("invalid gateway name: {name:?}")));
    }
}
