//! Strait's pitfall analyzers (codes `STRnnnn`, see the crate docs), from the field notes in
//! `../shared/seeds`, and the helpers they share: which workloads a Service selects and which
//! container port a Service port reaches.

pub mod app_listeners;
pub mod external_hosts;
pub mod gateway_subsets;
pub mod http10;
pub mod mtls_conflicts;
pub mod port_protocols;
pub mod shared_certificates;
pub mod unused_subsets;

use crate::analyzers::Analyzer;
use crate::context::{Context, Workload};
use crate::input::Obj;
use crate::util::selects;
use k8s_openapi::api::core::v1::{ContainerPort, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Every pitfall analyzer.
pub const ALL: &[Analyzer] = &[
    Analyzer { name: "strait.PortProtocols", run: port_protocols::run },
    Analyzer { name: "strait.UnusedSubsets", run: unused_subsets::run },
    Analyzer { name: "strait.GatewaySubsetRouting", run: gateway_subsets::run },
    Analyzer { name: "strait.MtlsConflicts", run: mtls_conflicts::run },
    Analyzer { name: "strait.SharedGatewayCertificates", run: shared_certificates::run },
    Analyzer { name: "strait.ExternalHosts", run: external_hosts::run },
    Analyzer { name: "strait.Http10Upstreams", run: http10::run },
    Analyzer { name: "strait.AppListeners", run: app_listeners::run },
];

/// The workloads a Service (with a non-empty selector) sends traffic to.
pub fn service_workloads<'c, 'a>(ctx: &'c Context<'a>, svc_obj: &Obj, svc: &ServiceSpec) -> Vec<&'c Workload<'a>> {
    let Some(selector) = svc.selector.as_ref().filter(|s| !s.is_empty()) else { return Vec::new() };
    ctx.workloads().iter().filter(|w| w.namespace == svc_obj.namespace && selects(selector, w.labels)).collect()
}

/// The container port a Service port reaches on a workload: by name for a named target port,
/// by number otherwise (the service port itself when no target port is set).
pub fn container_port<'w>(w: &Workload<'w>, port: &ServicePort) -> Option<&'w ContainerPort> {
    let ports = w.spec?.containers.iter().flat_map(|c| c.ports.iter().flatten());
    match &port.target_port {
        Some(IntOrString::String(name)) => ports.into_iter().find(|p| p.name.as_deref() == Some(name.as_str())),
        Some(IntOrString::Int(n)) => ports.into_iter().find(|p| p.container_port == *n),
        None => ports.into_iter().find(|p| p.container_port == port.port),
    }
}

/// The port number a Service port's traffic arrives on at the workload, when it can be told.
pub fn target_number(w: &Workload<'_>, port: &ServicePort) -> Option<i32> {
    match &port.target_port {
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(s)) => s.parse().ok().or_else(|| container_port(w, port).map(|p| p.container_port)),
        None => Some(port.port),
    }
}
