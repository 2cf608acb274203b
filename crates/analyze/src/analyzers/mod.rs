//! The registry of analyzers: Istio's analyzers that apply to Strait (named as Istio's tests
//! name them, `package.Type`), Strait's pitfall analyzers (`strait.*`), and the Istio
//! analyzers deliberately not run, each with the reason.

pub mod annotation_catalogue;
pub mod annotations;
pub mod authorization_policies;
pub mod deployment;
pub mod deprecation;
pub mod destinationrule;
pub mod gateway;
pub mod schema;
pub mod service_port_names;
pub mod serviceentry;
pub mod sidecar_selectors;
pub mod virtualservice;

use crate::context::{Context, Reporter};

/// An analyzer.
pub struct Analyzer {
    /// Istio's name (`virtualservice.DestinationHostAnalyzer`) or `strait.*`.
    pub name: &'static str,
    /// Runs it.
    pub run: fn(&Context<'_>, &mut Reporter),
}

/// Every analyzer `strait analyze` runs, Istio's first.
pub const ALL: &[Analyzer] = &[
    Analyzer { name: "annotations.K8sAnalyzer", run: annotations::run },
    Analyzer { name: "authz.AuthorizationPoliciesAnalyzer", run: authorization_policies::run },
    Analyzer { name: "deployment.ServiceAssociationAnalyzer", run: deployment::services::run },
    Analyzer { name: "deployment.ApplicationUIDAnalyzer", run: deployment::application_uid::run },
    Analyzer { name: "destinationrule.CaCertificateAnalyzer", run: destinationrule::ca_certificates::run },
    Analyzer { name: "destinationrule.PodNotSelectedAnalyzer", run: destinationrule::subsets::run },
    Analyzer { name: "deprecation.FieldAnalyzer", run: deprecation::run },
    Analyzer { name: "gateway.IngressGatewayPortAnalyzer", run: gateway::ports::run },
    Analyzer { name: "gateway.CertificateAnalyzer", run: gateway::certificates::run },
    Analyzer { name: "gateway.SecretAnalyzer", run: gateway::secrets::run },
    Analyzer { name: "gateway.ConflictingGatewayAnalyzer", run: gateway::conflicts::run },
    Analyzer { name: "service.PortNameAnalyzer", run: service_port_names::run },
    Analyzer { name: "sidecar.SelectorAnalyzer", run: sidecar_selectors::run },
    Analyzer {
        name: "virtualservice.ConflictingMeshGatewayHostsAnalyzer",
        run: virtualservice::conflicting_hosts::run,
    },
    Analyzer { name: "virtualservice.DestinationHostAnalyzer", run: virtualservice::destination_hosts::run },
    Analyzer { name: "virtualservice.DestinationRuleAnalyzer", run: virtualservice::destination_rules::run },
    Analyzer { name: "virtualservice.GatewayAnalyzer", run: virtualservice::gateways::run },
    Analyzer { name: "virtualservice.JWTClaimRouteAnalyzer", run: virtualservice::jwt_claim::run },
    Analyzer { name: "serviceentry.ProtocolAddressesAnalyzer", run: serviceentry::addresses::run },
    Analyzer { name: "serviceentry.ConflictingServiceEntryProtocolAnalyzer", run: serviceentry::conflicts::run },
    Analyzer { name: "schemaValidation.CollectionValidationAnalyzer", run: schema::run },
    Analyzer { name: "strait.KubernetesValidation", run: schema::run_kubernetes },
];

/// Analyzers that exist but are not part of a default run: Istio leaves
/// `maturity.AlphaAnalyzer` out of `istioctl analyze` too (it only says a feature is alpha).
pub const EXTRA: &[Analyzer] = &[Analyzer { name: "maturity.AlphaAnalyzer", run: annotations::run_alpha }];

/// An Istio analyzer Strait does not run.
pub struct NotApplicable {
    /// Istio's name.
    pub name: &'static str,
    /// Why it does not apply to Strait.
    pub why: &'static str,
}

/// Istio's analyzers that do not apply to Strait.
pub const NOT_APPLICABLE: &[NotApplicable] = &[
    NotApplicable {
        name: "authn.BlockedCIDRsAnalyzer",
        why: "reads BLOCKED_CIDRS_IN_JWKS_URIS from istiod's Deployment; Strait's control plane is not configured by an istiod Deployment",
    },
    NotApplicable {
        name: "conditions.ConditionAnalyzer",
        why: "reports status conditions written by Kubernetes controllers (and Gateway API routes); Strait reads files and writes no status",
    },
    NotApplicable { name: "envoyfilter.EnvoyPatchAnalyzer", why: "EnvoyFilter is not supported by Strait" },
    NotApplicable {
        name: "externalcontrolplane.ExternalControlPlaneAnalyzer",
        why: "checks the injection/validation webhooks of an external istiod; Strait has no admission webhooks",
    },
    NotApplicable {
        name: "injection.Analyzer",
        why: "sidecar injection: Strait starts its sidecars itself, there is no injector",
    },
    NotApplicable {
        name: "injection.ImageAnalyzer",
        why: "compares injected proxy images with the injector ConfigMap; no injector in Strait",
    },
    NotApplicable {
        name: "injection.ImageAutoAnalyzer",
        why: "`image: auto` is resolved by the injector webhook; no injector in Strait",
    },
    NotApplicable { name: "k8sgateway.SelectorAnalyzer", why: "Gateway API is not supported by Strait" },
    NotApplicable { name: "k8sgateway.CRDVersionAnalyzer", why: "Gateway API CRDs are not supported by Strait" },
    NotApplicable {
        name: "multicluster.MeshNetworksAnalyzer",
        why: "meshNetworks (multi-network, multi-cluster) is not supported by Strait",
    },
    NotApplicable { name: "telemetry.ProviderAnalyzer", why: "Telemetry is not supported by Strait" },
    NotApplicable { name: "telemetry.SelectorAnalyzer", why: "Telemetry is not supported by Strait" },
    NotApplicable { name: "telemetry.DefaultSelectorAnalyzer", why: "Telemetry is not supported by Strait" },
    NotApplicable { name: "telemetry.LightstepAnalyzer", why: "Telemetry is not supported by Strait" },
    NotApplicable { name: "webhook.Analyzer", why: "checks istiod's admission webhooks; Strait has none" },
];

/// The analyzer called `name` (default or extra).
pub fn by_name(name: &str) -> Option<&'static Analyzer> {
    ALL.iter().chain(EXTRA).find(|a| a.name == name)
}
