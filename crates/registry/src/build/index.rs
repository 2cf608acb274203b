//! The loaded resources grouped by kind, with the lookups the build needs (pods by name and by
//! IP, EndpointSlices by service), so each service is built without rescanning everything.

use super::{meta_name, meta_namespace};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use std::collections::BTreeMap;
use strait_model::mesh::MeshConfig;
use strait_model::networking::{service_entry::ServiceEntry, workload_entry::WorkloadEntry};
use strait_model::{Object, Resource};

/// The label an EndpointSlice carries naming its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Resources by kind, borrowed from the loaded list.
#[derive(Default)]
pub(super) struct Index<'a> {
    pub services: Vec<&'a core::Service>,
    pub endpoints: BTreeMap<(&'a str, &'a str), &'a core::Endpoints>,
    pub slices: BTreeMap<(&'a str, &'a str), Vec<&'a discovery::EndpointSlice>>,
    pub pods: Vec<&'a core::Pod>,
    pub pods_by_name: BTreeMap<(&'a str, &'a str), &'a core::Pod>,
    pub pods_by_ip: BTreeMap<&'a str, &'a core::Pod>,
    pub workload_entries: Vec<&'a Object<WorkloadEntry>>,
    pub service_entries: Vec<&'a Object<ServiceEntry>>,
    /// The last MeshConfig loaded, if any.
    pub mesh: Option<&'a MeshConfig>,
}

impl<'a> Index<'a> {
    /// Groups `resources`; later duplicates (same kind, namespace and name) win, as a later
    /// `kubectl apply` would.
    pub fn new(resources: &'a [Resource]) -> Index<'a> {
        let mut idx = Index::default();
        for r in resources {
            match r {
                Resource::Service(s) => idx.services.push(s),
                Resource::Endpoints(e) => {
                    idx.endpoints.insert(key(&e.metadata), e);
                }
                Resource::EndpointSlice(s) => idx.add_slice(s),
                Resource::Pod(p) => idx.add_pod(p),
                Resource::WorkloadEntry(w) => idx.workload_entries.push(w),
                Resource::ServiceEntry(s) => idx.service_entries.push(s),
                Resource::MeshConfig(m) => idx.mesh = Some(m),
                _ => {}
            }
        }
        idx
    }

    fn add_slice(&mut self, s: &'a discovery::EndpointSlice) {
        let service = s.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL));
        if let Some(service) = service {
            self.slices.entry((meta_namespace(&s.metadata), service.as_str())).or_default().push(s);
        }
    }

    fn add_pod(&mut self, p: &'a core::Pod) {
        self.pods.push(p);
        self.pods_by_name.insert(key(&p.metadata), p);
        if let Some(ip) = super::workloads::pod_ip(p) {
            self.pods_by_ip.insert(ip, p);
        }
    }

    /// The pod an endpoint address belongs to: its `targetRef` when it names a Pod, else the
    /// pod with that IP in the same namespace.
    pub fn pod_for(&self, ns: &str, ip: &str, target: Option<&core::ObjectReference>) -> Option<&'a core::Pod> {
        let by_ref = target.filter(|t| t.kind.as_deref().is_none_or(|k| k == "Pod")).and_then(|t| {
            let name = t.name.as_deref()?;
            self.pods_by_name.get(&(t.namespace.as_deref().unwrap_or(ns), name)).copied()
        });
        by_ref.or_else(|| self.pods_by_ip.get(ip).copied().filter(|p| meta_namespace(&p.metadata) == ns))
    }
}

fn key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (&str, &str) {
    (meta_namespace(meta), meta_name(meta))
}
