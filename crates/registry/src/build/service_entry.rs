//! ServiceEntries as registry services, as Istio's serviceentry controller converts them: one
//! service per host, resolution mapped (NONE → passthrough, STATIC, DNS, DNS_ROUND_ROBIN,
//! DYNAMIC_DNS → DNS), explicit protocols, and endpoints from the inline `endpoints`, from the
//! Pods and WorkloadEntries the `workloadSelector` picks in the entry's namespace, or, for DNS
//! resolution with neither, the host itself.
//!
//! An endpoint's port for each service port follows Istio's priority: a `unix://` address has
//! none (0), then the endpoint's own `ports` entry for the port name, then `targetPort`, then
//! the port number.

use super::index::Index;
use super::workloads::{entry_endpoint, pod_endpoint, pod_ip, selects};
use super::{meta_name, meta_namespace, visibility};
use crate::{Endpoint, Origin, Protocol, Resolution, Service, ServicePort};
use std::collections::BTreeMap;
use std::net::IpAddr;
use strait_model::Object;
use strait_model::networking::service_entry::{self as se, Location, ServiceEntry};
use strait_model::networking::workload_entry::WorkloadEntry;

/// Prefix of a Unix domain socket address.
const UNIX_PREFIX: &str = "unix://";

/// One service per host of every ServiceEntry (unsorted).
pub(super) fn services(idx: &Index<'_>, default_export: &[String]) -> Vec<Service> {
    idx.service_entries.iter().flat_map(|o| entry_services(idx, o, default_export)).collect()
}

fn entry_services(idx: &Index<'_>, o: &Object<ServiceEntry>, default_export: &[String]) -> Vec<Service> {
    let ns = meta_namespace(&o.metadata);
    let spec = &o.spec;
    let resolution = resolution(spec.resolution);
    let ports: Vec<ServicePort> = spec.ports.iter().map(service_port).collect();
    let selected = selected_endpoints(idx, o);
    let hosts = spec.hosts.iter().filter(|h| !h.is_empty());
    hosts
        .map(|host| {
            let endpoints = if spec.endpoints.is_empty() && spec.workload_selector.is_none() {
                host_endpoint(host, ns, spec)
            } else {
                selected.clone()
            };
            Service {
                hostname: host.clone(),
                namespace: ns.to_string(),
                origin: Origin::ServiceEntry { internal: spec.location == Location::MeshInternal },
                resolution,
                addresses: spec.addresses.iter().map(|a| address(a)).collect(),
                ports: ports.clone(),
                endpoints,
                visibility: visibility(&spec.export_to, default_export, ns),
                labels: o.metadata.labels.clone().unwrap_or_default(),
            }
        })
        .collect()
}

/// ServiceEntry resolution → registry resolution. DYNAMIC_DNS resolves per request, which is
/// DNS as far as endpoints go.
pub(super) fn resolution(r: se::Resolution) -> Resolution {
    match r {
        se::Resolution::None => Resolution::Passthrough,
        se::Resolution::Static => Resolution::Static,
        se::Resolution::Dns | se::Resolution::DynamicDns => Resolution::Dns,
        se::Resolution::DnsRoundRobin => Resolution::DnsRoundRobin,
    }
}

fn service_port(p: &se::ServicePort) -> ServicePort {
    ServicePort {
        number: p.number,
        name: p.name.clone(),
        protocol: Protocol::parse(p.protocol.as_deref().unwrap_or("")),
    }
}

/// A `/32` (or `/128`) CIDR is the plain IP, as Istio writes it.
fn address(a: &str) -> String {
    match a.split_once('/') {
        Some((ip, bits)) if ip.parse::<IpAddr>().is_ok_and(|ip| bits == if ip.is_ipv4() { "32" } else { "128" }) => {
            ip.to_string()
        }
        _ => a.to_string(),
    }
}

/// For DNS and DNS_ROUND_ROBIN without endpoints, the host itself is the endpoint (the proxy
/// resolves it); other resolutions have none.
fn host_endpoint(host: &str, ns: &str, spec: &ServiceEntry) -> Vec<Endpoint> {
    if !matches!(spec.resolution, se::Resolution::Dns | se::Resolution::DnsRoundRobin) || host.starts_with('*') {
        return Vec::new();
    }
    let ports = spec.ports.iter().map(|p| (p.number, p.target_port.filter(|t| *t > 0).unwrap_or(p.number))).collect();
    let we = WorkloadEntry { address: Some(host.to_string()), ..WorkloadEntry::default() };
    vec![entry_endpoint(ns, "", &we, ports)]
}

/// The inline endpoints, or the selected Pods and WorkloadEntries, sorted by address.
fn selected_endpoints(idx: &Index<'_>, o: &Object<ServiceEntry>) -> Vec<Endpoint> {
    let ns = meta_namespace(&o.metadata);
    let spec = &o.spec;
    let mut out: Vec<Endpoint> =
        spec.endpoints.iter().map(|we| entry_endpoint(ns, "", we, entry_ports(we, &spec.ports))).collect();
    if let Some(selector) = &spec.workload_selector {
        out.extend(selected_pods(idx, ns, &selector.labels, &spec.ports));
        let entries = idx.workload_entries.iter().filter(|w| meta_namespace(&w.metadata) == ns);
        let picked = entries.filter(|w| selects(&selector.labels, &w.spec.labels));
        out.extend(
            picked.map(|w| entry_endpoint(ns, meta_name(&w.metadata), &w.spec, entry_ports(&w.spec, &spec.ports))),
        );
    }
    out.sort_by(|a, b| (&a.address, &a.workload).cmp(&(&b.address, &b.workload)));
    out
}

fn selected_pods<'i>(
    idx: &'i Index<'_>,
    ns: &'i str,
    selector: &'i BTreeMap<String, String>,
    ports: &'i [se::ServicePort],
) -> impl Iterator<Item = Endpoint> + 'i {
    let pods = idx.pods.iter().filter(move |p| meta_namespace(&p.metadata) == ns);
    pods.filter_map(move |pod| {
        let labels = pod.metadata.labels.as_ref()?;
        let ip = pod_ip(pod).filter(|_| selects(selector, labels))?;
        let map = ports.iter().map(|p| (p.number, p.target_port.filter(|t| *t > 0).unwrap_or(p.number))).collect();
        Some(pod_endpoint(pod, ip, map, true))
    })
}

/// Service port number → endpoint port, by Istio's priority (see the module comment).
fn entry_ports(we: &WorkloadEntry, ports: &[se::ServicePort]) -> BTreeMap<u32, u32> {
    let port = |p: &se::ServicePort| {
        if we.address().starts_with(UNIX_PREFIX) {
            0
        } else if let Some(n) = we.ports.get(&p.name).filter(|n| **n > 0) {
            *n
        } else {
            p.target_port.filter(|t| *t > 0).unwrap_or(p.number)
        }
    };
    ports.iter().map(|p| (p.number, port(p))).collect()
}
