//! What one proxy may see: services visible from its namespace (`exportTo`), narrowed by the
//! Sidecar resource that applies to it (its `egress[].hosts`), and the outbound traffic policy
//! in force (the Sidecar's, else the mesh's). Generation works only through a [`Scope`], so the
//! scoping rules live in one place. Scoping is the main way users cut sidecar memory in Istio.
//!
//! The Sidecar that applies to a sidecar proxy (never to gateways) is, as in Istio: one in the
//! proxy's namespace whose `workloadSelector` matches its labels; else the namespace's Sidecar
//! without a selector; else the mesh root namespace's Sidecar without a selector.

use std::cell::OnceCell;
use std::collections::HashMap;
use strait_model::Object;
use strait_model::mesh::OutboundMode;
use strait_model::networking::sidecar::Sidecar;
use strait_registry::store::namespace_of;
use strait_registry::{NodeType, Proxy, Registry, Service};

/// The view of the registry one proxy gets.
pub struct Scope<'a> {
    /// The whole registry.
    pub registry: &'a Registry,
    /// The proxy.
    pub proxy: &'a Proxy,
    sidecar: Option<&'a Object<Sidecar>>,
    // Lookup tables built on first use, once per generation: without them, resolving every
    // route's hosts scans all services, VirtualServices and DestinationRules (quadratic in mesh
    // size; 2,000 services made one proxy's generation take ~180 ms).
    by_host: OnceCell<HashMap<&'a str, Vec<&'a Service>>>,
    virtual_services: OnceCell<crate::routes::virtual_hosts::VsIndex<'a>>,
    destination_rules: OnceCell<crate::destination_rules::Index<'a>>,
}

impl<'a> Scope<'a> {
    /// The scope of `proxy`.
    pub fn new(registry: &'a Registry, proxy: &'a Proxy) -> Self {
        let sidecar = if proxy.id.node_type == NodeType::Sidecar { select_sidecar(registry, proxy) } else { None };
        Self {
            registry,
            proxy,
            sidecar,
            by_host: OnceCell::new(),
            virtual_services: OnceCell::new(),
            destination_rules: OnceCell::new(),
        }
    }

    /// The service `host` names for this proxy (`strait_registry::hosts::service_for`, indexed).
    pub fn service_for(&self, host: &str) -> Option<&'a Service> {
        let index = self.by_host.get_or_init(|| {
            let mut map: HashMap<&'a str, Vec<&'a Service>> = HashMap::new();
            for s in &self.registry.services {
                map.entry(s.hostname.as_str()).or_default().push(s);
            }
            map
        });
        let from_ns = self.proxy.id.namespace.as_str();
        let mut visible = index.get(host)?.iter().copied().filter(|s| s.visibility.visible_to(from_ns));
        let first = visible.next()?;
        if first.namespace == from_ns {
            return Some(first);
        }
        Some(visible.find(|s| s.namespace == from_ns).unwrap_or(first))
    }

    /// The mesh VirtualServices visible to this proxy, indexed by host.
    pub(crate) fn virtual_services(&self) -> &crate::routes::virtual_hosts::VsIndex<'a> {
        self.virtual_services.get_or_init(|| crate::routes::virtual_hosts::VsIndex::new(self))
    }

    /// The registry's DestinationRules, indexed once per generation.
    pub fn destination_rules(&self) -> &crate::destination_rules::Index<'a> {
        self.destination_rules.get_or_init(|| crate::destination_rules::Index::new(self.registry))
    }

    /// The Sidecar resource that applies to this proxy, if any.
    pub fn sidecar(&self) -> Option<&'a Object<Sidecar>> {
        self.sidecar
    }

    /// Services this proxy may reach, in registry order.
    pub fn services(&self) -> impl Iterator<Item = &'a Service> + '_ {
        let ns = self.proxy.id.namespace.clone();
        self.registry
            .services
            .iter()
            .filter(move |s| s.visibility.visible_to(&ns) || s.namespace == ns)
            .filter(move |s| self.egress_allows(s))
    }

    /// True when the applicable Sidecar's egress hosts admit `svc` (always, without a Sidecar or
    /// without egress listeners).
    fn egress_allows(&self, svc: &Service) -> bool {
        let Some(sc) = self.sidecar else { return true };
        if sc.spec.egress.is_empty() {
            return true;
        }
        let own_ns = &self.proxy.id.namespace;
        sc.spec.egress.iter().flat_map(|e| e.hosts.iter()).any(|h| egress_host_matches(h, own_ns, svc))
    }

    /// REGISTRY_ONLY or ALLOW_ANY for this proxy: the Sidecar's policy, else the mesh's.
    pub fn outbound_mode(&self) -> OutboundMode {
        self.sidecar
            .and_then(|s| s.spec.outbound_traffic_policy.as_ref())
            .and_then(|p| p.mode)
            .unwrap_or_else(|| self.registry.mesh.effective_outbound_mode())
    }
}

fn select_sidecar<'a>(registry: &'a Registry, proxy: &Proxy) -> Option<&'a Object<Sidecar>> {
    let sidecars = &registry.config.sidecars;
    let selects = |s: &Object<Sidecar>| {
        s.spec
            .workload_selector
            .as_ref()
            .is_some_and(|w| !w.labels.is_empty() && w.labels.iter().all(|(k, v)| proxy.labels.get(k) == Some(v)))
    };
    let unselective = |s: &&Object<Sidecar>| s.spec.workload_selector.as_ref().is_none_or(|w| w.labels.is_empty());
    let ns = proxy.id.namespace.as_str();
    let root = registry.mesh.effective_root_namespace();
    sidecars
        .iter()
        .find(|s| namespace_of(s) == ns && selects(s))
        .or_else(|| sidecars.iter().filter(unselective).find(|s| namespace_of(s) == ns))
        .or_else(|| sidecars.iter().filter(unselective).find(|s| namespace_of(s) == root))
}

/// Istio's `namespace/dnsName` egress host: namespace `*` (any), `.` (the proxy's), `~`
/// (none) or a name; dnsName `*`, `*.suffix` or an exact host.
fn egress_host_matches(entry: &str, own_ns: &str, svc: &Service) -> bool {
    let Some((ns, host)) = entry.split_once('/') else { return false };
    let ns_ok = match ns {
        "*" => true,
        "." => svc.namespace == own_ns,
        "~" => false,
        other => svc.namespace == other,
    };
    ns_ok
        && (host == "*"
            || host == svc.hostname
            || host.strip_prefix('*').is_some_and(|suffix| svc.hostname.ends_with(suffix)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_model::{Kind, Resource};
    use strait_registry::{NodeId, Origin, Resolution, Visibility};

    fn service(host: &str, ns: &str) -> Service {
        Service {
            hostname: host.into(),
            namespace: ns.into(),
            origin: Origin::Kubernetes,
            resolution: Resolution::Static,
            addresses: vec![],
            ports: vec![],
            endpoints: vec![],
            visibility: Visibility::Public,
            labels: Default::default(),
        }
    }

    fn sidecar(ns: &str, name: &str, spec: serde_json::Value) -> Object<Sidecar> {
        let doc = serde_json::json!({"apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
            "metadata": {"name": name, "namespace": ns}, "spec": spec});
        match Resource::decode(Kind::Sidecar, doc) {
            Ok(Resource::Sidecar(s)) => s,
            other => panic!("bad fixture: {other:?}"),
        }
    }

    fn proxy(ns: &str, app: &str) -> Proxy {
        let id = NodeId::parse(&format!("sidecar~10.0.0.1~p.{ns}~{ns}.svc.cluster.local")).expect("id");
        Proxy {
            id,
            labels: [("app".to_string(), app.to_string())].into(),
            service_account: "default".into(),
            workload_name: "p".into(),
            outbound_port: 15001,
            captured: false,
            app_address: "127.0.0.1".into(),
            reason_header: false,
        }
    }

    fn visible(reg: &Registry, p: &Proxy) -> Vec<String> {
        Scope::new(reg, p).services().map(|s| s.hostname.clone()).collect()
    }

    #[test]
    fn sidecar_egress_hosts_scope_services() {
        let mut reg = Registry { domain: "cluster.local".into(), ..Registry::default() };
        reg.services = vec![
            service("a.shop.svc.cluster.local", "shop"),
            service("b.shop.svc.cluster.local", "shop"),
            service("c.other.svc.cluster.local", "other"),
            service("api.example.com", "other"),
        ];
        // No Sidecar: everything.
        assert_eq!(visible(&reg, &proxy("shop", "web")).len(), 4);
        // Namespace default: own namespace plus one external host.
        reg.config.sidecars =
            vec![sidecar("shop", "default", serde_json::json!({"egress": [{"hosts": ["./*", "*/*.example.com"]}]}))];
        assert_eq!(
            visible(&reg, &proxy("shop", "web")),
            ["a.shop.svc.cluster.local", "b.shop.svc.cluster.local", "api.example.com"]
        );
        // A workload-specific Sidecar wins over the namespace default.
        reg.config.sidecars.push(sidecar(
            "shop",
            "web-only",
            serde_json::json!({"workloadSelector": {"labels": {"app": "web"}}, "egress": [{"hosts": ["other/c.other.svc.cluster.local"]}],
                "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}),
        ));
        let web = proxy("shop", "web");
        assert_eq!(visible(&reg, &web), ["c.other.svc.cluster.local"]);
        assert_eq!(Scope::new(&reg, &web).outbound_mode(), OutboundMode::RegistryOnly);
        assert_eq!(Scope::new(&reg, &proxy("shop", "db")).outbound_mode(), OutboundMode::AllowAny);
        // The root namespace's default applies to namespaces without their own; `~/*` hides all.
        reg.config.sidecars =
            vec![sidecar("istio-system", "default", serde_json::json!({"egress": [{"hosts": ["~/*"]}]}))];
        assert!(visible(&reg, &proxy("other", "x")).is_empty());
        // Gateways ignore Sidecar resources.
        let mut gw = proxy("istio-system", "gw");
        gw.id.node_type = NodeType::Router;
        assert_eq!(visible(&reg, &gw).len(), 4);
    }
}
