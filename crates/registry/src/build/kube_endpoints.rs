//! Endpoints of a Kubernetes Service, from the best source present: its EndpointSlices (label
//! `kubernetes.io/service-name`), else its Endpoints object, else (files mode, where no
//! controller writes either) the Pods its selector picks. WorkloadEntries the selector picks are
//! added in every case, as Istio's kube controller does for VMs.
//!
//! Each endpoint maps every service port to the endpoint's port: EndpointSlice/Endpoints ports
//! are matched by port name; for pods the `targetPort` number, or a named `targetPort` looked
//! up in the pod's container ports (a pod without that name does not serve the port).

use super::index::Index;
use super::workloads::{container_ports, entry_endpoint, pod_endpoint, pod_ip, selects};
use super::{meta_name, meta_namespace};
use crate::Endpoint;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The endpoints of `svc`, sorted by address.
pub(super) fn endpoints(idx: &Index<'_>, svc: &core::Service, ports: &[core::ServicePort]) -> Vec<Endpoint> {
    let (ns, name) = (meta_namespace(&svc.metadata), meta_name(&svc.metadata));
    let selector = svc.spec.as_ref().and_then(|s| s.selector.clone()).unwrap_or_default();
    let mut acc = Acc { idx, ns, out: BTreeMap::new() };
    if let Some(slices) = idx.slices.get(&(ns, name)) {
        slices.iter().for_each(|s| acc.slice(s, ports));
    } else if let Some(e) = idx.endpoints.get(&(ns, name)) {
        e.subsets.iter().flatten().for_each(|s| acc.subset(s, ports));
    } else {
        acc.pods(&selector, ports);
    }
    acc.workload_entries(&selector, ports);
    acc.out.into_values().collect()
}

/// Endpoints collected by address; one address seen in several slices gets the union of ports.
struct Acc<'i, 'a> {
    idx: &'i Index<'a>,
    ns: &'i str,
    out: BTreeMap<String, Endpoint>,
}

impl Acc<'_, '_> {
    fn add(&mut self, address: &str, target: Option<&core::ObjectReference>, ports: &BTreeMap<u32, u32>, ready: bool) {
        if let Some(e) = self.out.get_mut(address) {
            e.ports.extend(ports);
            return;
        }
        let e = match self.idx.pod_for(self.ns, address, target) {
            Some(pod) => pod_endpoint(pod, address, ports.clone(), ready),
            None => bare_endpoint(address, self.ns, ports.clone(), ready),
        };
        self.out.insert(address.to_string(), e);
    }

    fn slice(&mut self, slice: &discovery::EndpointSlice, svc_ports: &[core::ServicePort]) {
        let named = slice.ports.iter().flatten().filter_map(|p| Some((p.name.as_deref().unwrap_or(""), p.port?)));
        let ports = by_port_name(svc_ports, named);
        if ports.is_empty() {
            return;
        }
        for ep in &slice.endpoints {
            let ready = ep.conditions.as_ref().and_then(|c| c.ready) != Some(false);
            for address in &ep.addresses {
                self.add(address, ep.target_ref.as_ref(), &ports, ready);
            }
        }
    }

    fn subset(&mut self, subset: &core::EndpointSubset, svc_ports: &[core::ServicePort]) {
        let named = subset.ports.iter().flatten().map(|p| (p.name.as_deref().unwrap_or(""), p.port));
        let ports = by_port_name(svc_ports, named);
        if ports.is_empty() {
            return;
        }
        for a in subset.addresses.iter().flatten() {
            self.add(&a.ip, a.target_ref.as_ref(), &ports, true);
        }
        for a in subset.not_ready_addresses.iter().flatten() {
            self.add(&a.ip, a.target_ref.as_ref(), &ports, false);
        }
    }

    fn pods(&mut self, selector: &BTreeMap<String, String>, svc_ports: &[core::ServicePort]) {
        let idx = self.idx;
        for pod in idx.pods.iter().filter(|p| meta_namespace(&p.metadata) == self.ns) {
            let (Some(ip), Some(labels)) = (pod_ip(pod), pod.metadata.labels.as_ref()) else { continue };
            if !selects(selector, labels) {
                continue;
            }
            let declared = container_ports(pod);
            let ports: BTreeMap<u32, u32> = svc_ports
                .iter()
                .filter_map(|p| Some((svc_number(p)?, target_port(p, |n| declared.get(n).copied())?)))
                .collect();
            if !ports.is_empty() {
                self.out.insert(ip.to_string(), pod_endpoint(pod, ip, ports, true));
            }
        }
    }

    /// WorkloadEntries with an IP address; the entry's own port map wins (by the named target
    /// port, then by the service port name).
    fn workload_entries(&mut self, selector: &BTreeMap<String, String>, svc_ports: &[core::ServicePort]) {
        let idx = self.idx;
        for we in idx.workload_entries.iter().filter(|w| meta_namespace(&w.metadata) == self.ns) {
            let spec = &we.spec;
            if !selects(selector, &spec.labels) || spec.address().parse::<IpAddr>().is_err() {
                continue;
            }
            let port_of = |p: &core::ServicePort| {
                let own = p.name.as_deref().and_then(|n| spec.ports.get(n).copied());
                own.or_else(|| target_port(p, |n| spec.ports.get(n).copied()))
            };
            let ports: BTreeMap<u32, u32> =
                svc_ports.iter().filter_map(|p| Some((svc_number(p)?, port_of(p)?))).collect();
            let e = entry_endpoint(self.ns, meta_name(&we.metadata), spec, ports);
            self.out.entry(e.address.clone()).or_insert(e);
        }
    }
}

fn svc_number(p: &core::ServicePort) -> Option<u32> {
    u32::try_from(p.port).ok().filter(|n| *n > 0)
}

/// Service port number → endpoint port, matching the endpoint ports by name (an unnamed port
/// is the name "").
fn by_port_name<'n>(
    svc_ports: &[core::ServicePort],
    named: impl Iterator<Item = (&'n str, i32)>,
) -> BTreeMap<u32, u32> {
    let named: Vec<(&str, i32)> = named.collect();
    let lookup = |p: &core::ServicePort| {
        let name = p.name.as_deref().unwrap_or("");
        let (_, port) = named.iter().find(|(n, _)| *n == name)?;
        Some((svc_number(p)?, u32::try_from(*port).ok()?))
    };
    svc_ports.iter().filter_map(lookup).collect()
}

/// The endpoint port for a service port: the `targetPort` number, a named `targetPort`
/// resolved by `named`, or the service port itself when `targetPort` is unset.
pub(super) fn target_port(p: &core::ServicePort, named: impl Fn(&str) -> Option<u32>) -> Option<u32> {
    match &p.target_port {
        None => svc_number(p),
        Some(IntOrString::Int(n)) if *n > 0 => u32::try_from(*n).ok(),
        Some(IntOrString::Int(_)) => svc_number(p),
        Some(IntOrString::String(s)) => s.parse::<u32>().ok().or_else(|| named(s)),
    }
}

/// An endpoint address no pod in the files accounts for (an external IP, a pod not loaded).
fn bare_endpoint(address: &str, ns: &str, ports: BTreeMap<u32, u32>, ready: bool) -> Endpoint {
    Endpoint {
        address: address.to_string(),
        ports,
        labels: BTreeMap::new(),
        service_account: String::new(),
        namespace: ns.to_string(),
        workload: String::new(),
        istio_tls: false,
        ready,
        weight: 1,
        locality: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, number: i32, target: Option<IntOrString>) -> core::ServicePort {
        core::ServicePort { name: Some(name.into()), port: number, target_port: target, ..Default::default() }
    }

    #[test]
    fn target_port_table() {
        let declared = |n: &str| (n == "http-web").then_some(8080);
        let cases = [
            (port("http", 9080, None), Some(9080)),
            (port("http", 80, Some(IntOrString::Int(8000))), Some(8000)),
            (port("http", 80, Some(IntOrString::Int(0))), Some(80)),
            (port("http", 80, Some(IntOrString::String("http-web".into()))), Some(8080)),
            (port("http", 80, Some(IntOrString::String("9090".into()))), Some(9090)),
            (port("http", 80, Some(IntOrString::String("missing".into()))), None),
        ];
        for (p, want) in cases {
            assert_eq!(target_port(&p, declared), want, "{p:?}");
        }
    }

    #[test]
    fn ports_match_by_name() {
        let svc = [port("http", 80, None), port("grpc", 90, None), port("", 100, None)];
        let got = by_port_name(&svc, [("grpc", 9090), ("http", 8080), ("other", 1)].into_iter());
        assert_eq!(got, BTreeMap::from([(80, 8080), (90, 9090)]));
        let unnamed = by_port_name(&[port("", 100, None)], [("", 7000)].into_iter());
        assert_eq!(unnamed, BTreeMap::from([(100, 7000)]));
    }
}
