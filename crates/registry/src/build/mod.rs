//! Building a [`Registry`] from loaded resources, as istiod's service registries do: Kubernetes
//! Services with their endpoints (`kube`, `kube_endpoints`), ServiceEntries (`service_entry`),
//! workloads from Pods and WorkloadEntries (`workloads`), the Istio config store and the mesh
//! settings. Pure: the same resources always give the same, sorted registry.
//!
//! Files mode has no API server and no controllers, so a few things Kubernetes would fill in
//! are inferred: endpoints come from Pods selected by the Service when no EndpointSlice or
//! Endpoints object exists, and pods are assumed to carry a sidecar unless they opt out (see
//! `workloads::has_sidecar`).

mod credentials;
mod index;
mod kube;
mod kube_endpoints;
mod service_entry;
mod workloads;

use crate::store::{ConfigStore, name_of, namespace_of};
use crate::{Registry, Visibility};
use index::Index;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use strait_model::mesh::MeshConfig;
use strait_model::{Object, Resource};

/// The DNS domain of the cluster, the suffix of `NAME.NS.svc.DOMAIN`.
pub const DEFAULT_DOMAIN: &str = "cluster.local";

/// Knobs of the build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    /// The cluster's DNS domain (`cluster.local`).
    pub domain: String,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions { domain: DEFAULT_DOMAIN.into() }
    }
}

/// Builds the registry from every loaded resource, with the default options.
pub fn build(resources: &[Resource]) -> Registry {
    build_with(resources, &BuildOptions::default())
}

/// Builds the registry from every loaded resource.
pub fn build_with(resources: &[Resource], opts: &BuildOptions) -> Registry {
    let idx = Index::new(resources);
    let mesh = idx.mesh.map_or_else(MeshConfig::defaults, MeshConfig::with_defaults);
    let default_export = mesh.effective_default_service_export_to();
    let mut services = kube::services(&idx, &opts.domain, &default_export);
    services.extend(service_entry::services(&idx, &default_export));
    services.sort_by(|a, b| (&a.hostname, &a.namespace).cmp(&(&b.hostname, &b.namespace)));
    let mut workloads = workloads::all(&idx);
    workloads.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Registry { services, workloads, config: config_store(resources), mesh, domain: opts.domain.clone() }
}

/// The namespace in object metadata (`default` when unset; the loader normally sets it).
pub(crate) fn meta_namespace(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or("default")
}

/// The name in object metadata ("" when unset).
pub(crate) fn meta_name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

/// Istio's `exportTo` semantics for a list of entries owned by `owner_ns`: `*` anywhere means
/// every namespace, only `~` means nobody, `.` is the owner's namespace. An empty list means
/// the caller's default, so it is resolved against `default` (the mesh setting).
pub fn visibility(export_to: &[String], default: &[String], owner_ns: &str) -> Visibility {
    let list: Vec<&str> = export_to.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
    if list.is_empty() {
        return if default.is_empty() { Visibility::Public } else { visibility(default, &[], owner_ns) };
    }
    if list.contains(&"*") {
        return Visibility::Public;
    }
    let mut names: Vec<String> =
        list.iter().filter(|s| **s != "~").map(|s| if *s == "." { owner_ns } else { s }).map(String::from).collect();
    if names.is_empty() {
        return Visibility::Nobody;
    }
    names.sort();
    names.dedup();
    Visibility::Namespaces(names)
}

/// Every Istio config object and credential, each kind sorted by (namespace, name).
fn config_store(resources: &[Resource]) -> ConfigStore {
    let mut s = ConfigStore::default();
    for r in resources {
        match r {
            Resource::VirtualService(o) => s.virtual_services.push(o.clone()),
            Resource::DestinationRule(o) => s.destination_rules.push(o.clone()),
            Resource::ServiceEntry(o) => s.service_entries.push(o.clone()),
            Resource::Gateway(o) => s.gateways.push(o.clone()),
            Resource::Sidecar(o) => s.sidecars.push(o.clone()),
            Resource::PeerAuthentication(o) => s.peer_authentications.push(o.clone()),
            Resource::AuthorizationPolicy(o) => s.authorization_policies.push(o.clone()),
            Resource::RequestAuthentication(o) => s.request_authentications.push(o.clone()),
            Resource::Secret(o) => s.secrets.push(credentials::secret(o)),
            Resource::ConfigMap(o) => s.config_maps.push(credentials::config_map(o)),
            _ => {}
        }
    }
    sort_objects(&mut s.virtual_services);
    sort_objects(&mut s.destination_rules);
    sort_objects(&mut s.service_entries);
    sort_objects(&mut s.gateways);
    sort_objects(&mut s.sidecars);
    sort_objects(&mut s.peer_authentications);
    sort_objects(&mut s.authorization_policies);
    sort_objects(&mut s.request_authentications);
    credentials::sort(&mut s.secrets);
    credentials::sort(&mut s.config_maps);
    s
}

/// Sorts by (namespace, name); stable, so duplicates keep their load order.
fn sort_objects<S>(v: &mut [Object<S>]) {
    v.sort_by(|a, b| (namespace_of(a), name_of(a)).cmp(&(namespace_of(b), name_of(b))));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn visibility_table() {
        let ns = |v: &[&str]| Visibility::Namespaces(strings(v));
        let cases: &[(&[&str], &[&str], Visibility)] = &[
            (&[], &[], Visibility::Public),
            (&[], &["*"], Visibility::Public),
            (&[], &["."], ns(&["shop"])),
            (&["*"], &["."], Visibility::Public),
            (&["."], &["*"], ns(&["shop"])),
            (&["~"], &["*"], Visibility::Nobody),
            (&[".", "b", "shop"], &[], ns(&["b", "shop"])),
            (&["a", "*"], &[], Visibility::Public),
        ];
        for (export, default, want) in cases {
            assert_eq!(&visibility(&strings(export), &strings(default), "shop"), want, "{export:?} {default:?}");
        }
    }
}
