//! The kinds Strait knows: which `apiVersion`/`kind` pairs it acts on, and which it recognises
//! but does not act on (reported as "not supported" rather than silently dropped).

use std::fmt;

/// A kind Strait decodes, validates and acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Kind {
    VirtualService,
    DestinationRule,
    ServiceEntry,
    WorkloadEntry,
    WorkloadGroup,
    Gateway,
    Sidecar,
    PeerAuthentication,
    AuthorizationPolicy,
    RequestAuthentication,
    Namespace,
    ServiceAccount,
    Service,
    Endpoints,
    EndpointSlice,
    Pod,
    Deployment,
    Secret,
    ConfigMap,
}

impl Kind {
    /// True for Istio CRDs: their types are strict (unknown fields rejected by serde); the
    /// Kubernetes kinds come from k8s-openapi and are checked for unknown fields separately.
    pub fn is_istio(self) -> bool {
        matches!(
            self,
            Kind::VirtualService
                | Kind::DestinationRule
                | Kind::ServiceEntry
                | Kind::WorkloadEntry
                | Kind::WorkloadGroup
                | Kind::Gateway
                | Kind::Sidecar
                | Kind::PeerAuthentication
                | Kind::AuthorizationPolicy
                | Kind::RequestAuthentication
        )
    }

    /// True for kinds that live in a namespace.
    pub fn is_namespaced(self) -> bool {
        self != Kind::Namespace
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What Strait does with a recognised kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Decoded, validated and acted on.
    Supported(Kind),
    /// Recognised; reported as not supported and otherwise ignored. The text says why.
    NotSupported(&'static str),
}

/// One recognised group/kind with the versions the API server serves for it.
#[derive(Debug)]
pub struct KindInfo {
    /// API group ("" for the core group).
    pub group: &'static str,
    /// Served versions, newest first.
    pub versions: &'static [&'static str],
    /// Kind name.
    pub kind: &'static str,
    /// What Strait does with it.
    pub support: Support,
}

const NET: &[&str] = &["v1", "v1beta1", "v1alpha3"];
const SEC: &[&str] = &["v1", "v1beta1"];
const V1: &[&str] = &["v1"];
const GW_API: &[&str] = &["v1", "v1beta1", "v1alpha2", "v1alpha3"];

const NOT_ACTED: &str = "Strait does not act on this kind; it is ignored";
const ENVOY_FILTER: &str = "EnvoyFilter patches Envoy config directly and is not supported by Strait; it is ignored";
const TELEMETRY: &str =
    "the Telemetry API is not supported yet; Strait uses the mesh access-log and metrics defaults; it is ignored";
const WASM: &str = "Wasm extensions are not supported by Strait; it is ignored";
const GATEWAY_API: &str =
    "the Kubernetes Gateway API is not supported yet; use Istio Gateway and VirtualService; it is ignored";
const PROXY_CONFIG: &str =
    "ProxyConfig is not supported yet; proxy settings come from the mesh config and flags; it is ignored";

macro_rules! kinds {
    ($(($group:expr, $versions:expr, $kind:literal, $support:expr)),* $(,)?) => {
        /// Every recognised kind.
        pub static KINDS: &[KindInfo] = &[$(KindInfo { group: $group, versions: $versions, kind: $kind, support: $support }),*];
    };
}

use Support::{NotSupported as Ns, Supported as S};

kinds![
    ("networking.istio.io", NET, "VirtualService", S(Kind::VirtualService)),
    ("networking.istio.io", NET, "DestinationRule", S(Kind::DestinationRule)),
    ("networking.istio.io", NET, "ServiceEntry", S(Kind::ServiceEntry)),
    ("networking.istio.io", NET, "WorkloadEntry", S(Kind::WorkloadEntry)),
    ("networking.istio.io", NET, "WorkloadGroup", S(Kind::WorkloadGroup)),
    ("networking.istio.io", NET, "Gateway", S(Kind::Gateway)),
    ("networking.istio.io", NET, "Sidecar", S(Kind::Sidecar)),
    ("networking.istio.io", &["v1alpha3"], "EnvoyFilter", Ns(ENVOY_FILTER)),
    ("networking.istio.io", &["v1beta1"], "ProxyConfig", Ns(PROXY_CONFIG)),
    ("security.istio.io", SEC, "PeerAuthentication", S(Kind::PeerAuthentication)),
    ("security.istio.io", SEC, "AuthorizationPolicy", S(Kind::AuthorizationPolicy)),
    ("security.istio.io", SEC, "RequestAuthentication", S(Kind::RequestAuthentication)),
    ("telemetry.istio.io", &["v1", "v1alpha1"], "Telemetry", Ns(TELEMETRY)),
    ("extensions.istio.io", &["v1alpha1"], "WasmPlugin", Ns(WASM)),
    ("extensions.istio.io", &["v1alpha1"], "TrafficExtension", Ns(WASM)),
    ("", V1, "Namespace", S(Kind::Namespace)),
    ("", V1, "ServiceAccount", S(Kind::ServiceAccount)),
    ("", V1, "Service", S(Kind::Service)),
    ("", V1, "Endpoints", S(Kind::Endpoints)),
    ("discovery.k8s.io", V1, "EndpointSlice", S(Kind::EndpointSlice)),
    ("", V1, "Pod", S(Kind::Pod)),
    ("apps", V1, "Deployment", S(Kind::Deployment)),
    ("", V1, "Secret", S(Kind::Secret)),
    ("", V1, "ConfigMap", S(Kind::ConfigMap)),
    ("", V1, "PersistentVolumeClaim", Ns(NOT_ACTED)),
    ("", V1, "PersistentVolume", Ns(NOT_ACTED)),
    ("", V1, "ReplicationController", Ns(NOT_ACTED)),
    ("", V1, "Node", Ns(NOT_ACTED)),
    ("", V1, "LimitRange", Ns(NOT_ACTED)),
    ("", V1, "ResourceQuota", Ns(NOT_ACTED)),
    ("apps", V1, "StatefulSet", Ns(NOT_ACTED)),
    ("apps", V1, "DaemonSet", Ns(NOT_ACTED)),
    ("apps", V1, "ReplicaSet", Ns(NOT_ACTED)),
    ("apps.openshift.io", V1, "DeploymentConfig", Ns(NOT_ACTED)),
    ("batch", V1, "Job", Ns(NOT_ACTED)),
    ("batch", V1, "CronJob", Ns(NOT_ACTED)),
    ("autoscaling", &["v2", "v1"], "HorizontalPodAutoscaler", Ns(NOT_ACTED)),
    ("policy", V1, "PodDisruptionBudget", Ns(NOT_ACTED)),
    (
        "networking.k8s.io",
        V1,
        "Ingress",
        Ns("Kubernetes Ingress is not supported yet; use an Istio Gateway and VirtualService; it is ignored")
    ),
    ("networking.k8s.io", V1, "IngressClass", Ns(NOT_ACTED)),
    ("networking.k8s.io", V1, "NetworkPolicy", Ns(NOT_ACTED)),
    ("rbac.authorization.k8s.io", V1, "Role", Ns(NOT_ACTED)),
    ("rbac.authorization.k8s.io", V1, "RoleBinding", Ns(NOT_ACTED)),
    ("rbac.authorization.k8s.io", V1, "ClusterRole", Ns(NOT_ACTED)),
    ("rbac.authorization.k8s.io", V1, "ClusterRoleBinding", Ns(NOT_ACTED)),
    ("admissionregistration.k8s.io", V1, "MutatingWebhookConfiguration", Ns(NOT_ACTED)),
    ("admissionregistration.k8s.io", V1, "ValidatingWebhookConfiguration", Ns(NOT_ACTED)),
    ("apiextensions.k8s.io", V1, "CustomResourceDefinition", Ns(NOT_ACTED)),
    ("gateway.networking.k8s.io", GW_API, "Gateway", Ns(GATEWAY_API)),
    ("gateway.networking.k8s.io", GW_API, "GatewayClass", Ns(GATEWAY_API)),
    ("gateway.networking.k8s.io", GW_API, "HTTPRoute", Ns(GATEWAY_API)),
    ("gateway.networking.k8s.io", GW_API, "GRPCRoute", Ns(GATEWAY_API)),
    ("gateway.networking.k8s.io", GW_API, "TCPRoute", Ns(GATEWAY_API)),
    ("gateway.networking.k8s.io", GW_API, "TLSRoute", Ns(GATEWAY_API)),
    ("gateway.networking.k8s.io", GW_API, "UDPRoute", Ns(GATEWAY_API)),
    ("gateway.networking.k8s.io", GW_API, "ReferenceGrant", Ns(GATEWAY_API)),
    ("gateway.networking.k8s.io", GW_API, "BackendTLSPolicy", Ns(GATEWAY_API)),
    (
        "install.istio.io",
        &["v1alpha1"],
        "IstioOperator",
        Ns("IstioOperator installs Istio; Strait needs no installation; it is ignored")
    ),
    ("cert-manager.io", V1, "Certificate", Ns(NOT_ACTED)),
];

/// The result of looking up an `apiVersion` and `kind`.
#[derive(Debug)]
pub enum Lookup {
    /// A recognised kind at a served version.
    Found(&'static KindInfo),
    /// A recognised kind, but the version is not one the API serves.
    BadVersion(&'static KindInfo),
    /// A kind Strait has never heard of in that group.
    Unknown,
}

/// Splits `apiVersion` into (group, version); the core group is "".
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// Finds `kind` in the group of `api_version`.
pub fn lookup(api_version: &str, kind: &str) -> Lookup {
    let (group, version) = split_api_version(api_version);
    match KINDS.iter().find(|k| k.group == group && k.kind == kind) {
        Some(info) if info.versions.contains(&version) => Lookup::Found(info),
        Some(info) => Lookup::BadVersion(info),
        None => Lookup::Unknown,
    }
}

/// True when Strait knows the whole set of kinds of this API group, so an unknown kind in it
/// is a typo rather than a custom resource Strait has never heard of.
pub fn is_known_group(group: &str) -> bool {
    group.ends_with(".istio.io") || KINDS.iter().any(|k| k.group == group)
}

/// Recognised kinds named `kind` in any group (to suggest the right `apiVersion`).
pub fn groups_for(kind: &str) -> Vec<&'static KindInfo> {
    KINDS.iter().filter(|k| k.kind == kind).collect()
}

/// Every kind name Strait recognises (for "did you mean" hints).
pub fn all_kind_names() -> Vec<&'static str> {
    let mut names: Vec<_> = KINDS.iter().map(|k| k.kind).collect();
    names.sort_unstable();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert!(matches!(lookup("networking.istio.io/v1alpha3", "VirtualService"), Lookup::Found(_)));
        assert!(matches!(lookup("networking.istio.io/v2", "VirtualService"), Lookup::BadVersion(_)));
        assert!(matches!(lookup("v1", "Service"), Lookup::Found(_)));
        assert!(matches!(lookup("apps/v1", "Service"), Lookup::Unknown));
        assert!(matches!(
            lookup("networking.istio.io/v1alpha3", "EnvoyFilter"),
            Lookup::Found(KindInfo { support: Support::NotSupported(_), .. })
        ));
    }
}
