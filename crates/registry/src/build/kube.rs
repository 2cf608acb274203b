//! Kubernetes Services as registry services, as Istio's kube controller converts them: host
//! `NAME.NS.svc.DOMAIN`, ClusterIPs as addresses (headless → passthrough, ExternalName → DNS),
//! ports with Istio's protocol selection, `networking.istio.io/exportTo` visibility.

use super::index::Index;
use super::{kube_endpoints, meta_name, meta_namespace, visibility};
use crate::{Endpoint, Origin, Protocol, Resolution, Service, ServicePort, Visibility};
use k8s_openapi::api::core::v1 as core;
use std::collections::BTreeMap;

/// Annotation listing the namespaces a Service is exported to (comma-separated).
const EXPORT_TO_ANNOTATION: &str = "networking.istio.io/exportTo";

/// Every named Kubernetes Service (unsorted).
pub(super) fn services(idx: &Index<'_>, domain: &str, default_export: &[String]) -> Vec<Service> {
    idx.services.iter().filter_map(|s| service(idx, s, domain, default_export)).collect()
}

fn service(idx: &Index<'_>, svc: &core::Service, domain: &str, default_export: &[String]) -> Option<Service> {
    let name = meta_name(&svc.metadata);
    if name.is_empty() {
        return None;
    }
    let ns = meta_namespace(&svc.metadata);
    let spec = svc.spec.as_ref();
    let k8s_ports: &[core::ServicePort] = spec.and_then(|s| s.ports.as_deref()).unwrap_or_default();
    let ports: Vec<ServicePort> = k8s_ports.iter().map(service_port).collect();
    let external_name = spec.and_then(|s| s.external_name.as_deref()).filter(|_| is_external_name(spec));
    let (resolution, endpoints) = match external_name {
        Some(host) => (Resolution::Dns, vec![external_endpoint(host, ns, &ports)]),
        None => (resolution(spec), kube_endpoints::endpoints(idx, svc, k8s_ports)),
    };
    Some(Service {
        hostname: format!("{name}.{ns}.svc.{domain}"),
        namespace: ns.to_string(),
        origin: Origin::Kubernetes,
        resolution,
        addresses: addresses(spec),
        ports,
        endpoints,
        visibility: service_visibility(svc, ns, default_export),
        labels: svc.metadata.labels.clone().unwrap_or_default(),
    })
}

/// A Service port with Istio's protocol: UDP from `protocol`, else `appProtocol`, the name's
/// prefix, then well-known ports.
pub(super) fn service_port(p: &core::ServicePort) -> ServicePort {
    let name = p.name.clone().unwrap_or_default();
    let number = u32::try_from(p.port).unwrap_or_default();
    let protocol = if p.protocol.as_deref() == Some("UDP") {
        Protocol::Udp
    } else {
        Protocol::for_service_port(&name, p.app_protocol.as_deref(), number)
    };
    ServicePort { number, name, protocol }
}

fn is_external_name(spec: Option<&core::ServiceSpec>) -> bool {
    spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName")
}

/// Headless services (`clusterIP: None`) forward to the original destination; the rest are
/// load-balanced over their endpoints, with or without a ClusterIP (files rarely have one).
fn resolution(spec: Option<&core::ServiceSpec>) -> Resolution {
    if spec.and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
        Resolution::Passthrough
    } else {
        Resolution::Static
    }
}

/// `clusterIPs`, else `clusterIP`, without `None` and empty values.
fn addresses(spec: Option<&core::ServiceSpec>) -> Vec<String> {
    let Some(spec) = spec else { return Vec::new() };
    let ips = match &spec.cluster_ips {
        Some(ips) if !ips.is_empty() => ips.clone(),
        _ => spec.cluster_ip.iter().cloned().collect(),
    };
    ips.into_iter().filter(|ip| !ip.is_empty() && ip != "None").collect()
}

/// An ExternalName service has one endpoint, the external host, on each service port.
fn external_endpoint(host: &str, ns: &str, ports: &[ServicePort]) -> Endpoint {
    Endpoint {
        address: host.to_string(),
        ports: ports.iter().map(|p| (p.number, p.number)).collect(),
        labels: BTreeMap::new(),
        service_account: String::new(),
        namespace: ns.to_string(),
        workload: String::new(),
        istio_tls: false,
        ready: true,
        weight: 1,
        locality: String::new(),
    }
}

fn service_visibility(svc: &core::Service, ns: &str, default_export: &[String]) -> Visibility {
    let annotation = svc.metadata.annotations.as_ref().and_then(|a| a.get(EXPORT_TO_ANNOTATION));
    let export: Vec<String> =
        annotation.map(|a| a.split(',').map(|s| s.trim().to_string()).collect()).unwrap_or_default();
    visibility(&export, default_export, ns)
}
