//! The analysis context: typed views of the [`Input`] (Istio's `analysis.Context` `ForEach` and
//! `Find`), the effective mesh config, the workloads selectors can match, and the
//! [`Reporter`] each analyzer writes its messages to.

use crate::input::{Input, Obj};
use crate::message::{Arg, Message, MessageType};
use crate::util::{self, HostEntry, HostMap, HostPort};
use k8s_openapi::api::apps::v1::DeploymentSpec;
use k8s_openapi::api::core::v1::{PodSpec, ServiceSpec};
use std::collections::BTreeMap;
use strait_model::mesh::MeshConfig;
use strait_model::networking::{
    destination_rule::DestinationRule, gateway::Gateway, service_entry::ServiceEntry, sidecar::Sidecar,
    virtual_service::VirtualService,
};
use strait_model::security::{
    authorization_policy::AuthorizationPolicy, peer_authentication::PeerAuthentication,
    request_authentication::RequestAuthentication,
};
use strait_model::{Object, Resource};

/// How the analysis reads the input.
#[derive(Clone, Debug)]
pub struct Options {
    /// Look at workloads as Strait runs them: a Deployment's pod template counts as its pods
    /// when the input has none (a directory of config describes what will run, not what runs),
    /// and every workload has a sidecar unless it opts out (`sidecar.istio.io/inject: "false"`).
    /// Off, the analyzers see what Istio's see: Pods only, in the mesh when injected
    /// (the conformance test runs this way).
    pub strait_workloads: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { strait_workloads: true }
    }
}

/// A workload selectors can match: a Pod, or (see [`Options`]) a Deployment's pod template.
#[derive(Clone, Debug)]
pub struct Workload<'a> {
    /// The Pod or the Deployment.
    pub obj: &'a Obj,
    /// Namespace.
    pub namespace: &'a str,
    /// Pod name (the Deployment's name for a template).
    pub name: &'a str,
    /// Pod labels.
    pub labels: &'a BTreeMap<String, String>,
    /// Pod annotations.
    pub annotations: &'a BTreeMap<String, String>,
    /// Pod spec.
    pub spec: Option<&'a PodSpec>,
    /// True for a Deployment's template.
    pub from_template: bool,
}

/// Typed, indexed access to the input.
pub struct Context<'a> {
    /// The input.
    pub input: &'a Input,
    /// Mesh config with Istio's defaults applied.
    pub mesh: MeshConfig,
    /// Options.
    pub options: &'a Options,
    workloads: Vec<Workload<'a>>,
}

static EMPTY: BTreeMap<String, String> = BTreeMap::new();

macro_rules! istio_kind {
    ($fn:ident, $variant:ident, $ty:ty) => {
        /// Every object of this kind with its spec.
        pub fn $fn(&self) -> impl Iterator<Item = (&'a Obj, &'a $ty)> + 'a {
            self.input.objects.iter().filter_map(|o| match &o.resource {
                Resource::$variant(Object { spec, .. }) => Some((o, spec)),
                _ => None,
            })
        }
    };
}

impl<'a> Context<'a> {
    /// Indexes `input`.
    pub fn new(input: &'a Input, options: &'a Options) -> Context<'a> {
        let mesh = input.mesh.clone().unwrap_or_default().with_defaults();
        let mut ctx = Context { input, mesh, options, workloads: Vec::new() };
        ctx.workloads = ctx.collect_workloads();
        ctx
    }

    istio_kind!(virtual_services, VirtualService, VirtualService);
    istio_kind!(destination_rules, DestinationRule, DestinationRule);
    istio_kind!(service_entries, ServiceEntry, ServiceEntry);
    istio_kind!(gateways, Gateway, Gateway);
    istio_kind!(sidecars, Sidecar, Sidecar);
    istio_kind!(peer_authentications, PeerAuthentication, PeerAuthentication);
    istio_kind!(authorization_policies, AuthorizationPolicy, AuthorizationPolicy);
    istio_kind!(request_authentications, RequestAuthentication, RequestAuthentication);

    /// Services with their spec (an empty one when the document has none).
    pub fn services(&self) -> impl Iterator<Item = (&'a Obj, &'a ServiceSpec)> + 'a {
        static NONE: std::sync::LazyLock<ServiceSpec> = std::sync::LazyLock::new(ServiceSpec::default);
        self.input.objects.iter().filter_map(|o| match &o.resource {
            Resource::Service(s) => Some((o, s.spec.as_ref().unwrap_or(&NONE))),
            _ => None,
        })
    }

    /// Pods with their spec.
    pub fn pods(&self) -> impl Iterator<Item = (&'a Obj, Option<&'a PodSpec>)> + 'a {
        self.input.objects.iter().filter_map(|o| match &o.resource {
            Resource::Pod(p) => Some((o, p.spec.as_ref())),
            _ => None,
        })
    }

    /// Deployments with their spec.
    pub fn deployments(&self) -> impl Iterator<Item = (&'a Obj, Option<&'a DeploymentSpec>)> + 'a {
        self.input.objects.iter().filter_map(|o| match &o.resource {
            Resource::Deployment(d) => Some((o, d.spec.as_ref())),
            _ => None,
        })
    }

    /// Objects of a kind name.
    pub fn of_kind(&self, kind: &'a str) -> impl Iterator<Item = &'a Obj> + 'a {
        self.input.objects.iter().filter(move |o| o.kind == kind)
    }

    /// The object of `kind` named `ns/name`.
    pub fn find(&self, kind: &str, ns: &str, name: &str) -> Option<&'a Obj> {
        self.input.objects.iter().find(|o| o.kind == kind && o.namespace == ns && o.name == name)
    }

    /// The Namespace object called `name`.
    pub fn namespace(&self, name: &str) -> Option<&'a Obj> {
        self.input.objects.iter().find(|o| o.kind == "Namespace" && o.name == name)
    }

    /// Pods, plus Deployment templates when [`Options::strait_workloads`] is set.
    pub fn workloads(&self) -> &[Workload<'a>] {
        &self.workloads
    }

    fn collect_workloads(&self) -> Vec<Workload<'a>> {
        let mut out: Vec<Workload<'a>> = self
            .pods()
            .map(|(o, spec)| Workload {
                obj: o,
                namespace: &o.namespace,
                name: &o.name,
                labels: o.labels(),
                annotations: o.annotations(),
                spec,
                from_template: false,
            })
            .collect();
        if !self.options.strait_workloads {
            return out;
        }
        for (o, spec) in self.deployments() {
            let Some(spec) = spec else { continue };
            let selector = spec.selector.match_labels.as_ref().unwrap_or(&EMPTY);
            let has_pods = self.pods().any(|(p, _)| p.namespace == o.namespace && util::selects(selector, p.labels()));
            if has_pods || selector.is_empty() {
                continue;
            }
            let meta = spec.template.metadata.as_ref();
            out.push(Workload {
                obj: o,
                namespace: &o.namespace,
                name: &o.name,
                labels: meta.and_then(|m| m.labels.as_ref()).unwrap_or(&EMPTY),
                annotations: meta.and_then(|m| m.annotations.as_ref()).unwrap_or(&EMPTY),
                spec: spec.template.spec.as_ref(),
                from_template: true,
            });
        }
        out
    }

    /// Whether a pod (or pod template) has a sidecar. Istio's `PodInMesh`: an `istio-proxy`
    /// container with an image, else `sidecar.istio.io/inject` on the pod, else
    /// `istio-injection=enabled` on its namespace. With [`Options::strait_workloads`], every
    /// workload has one unless it opts out: Strait starts a sidecar next to each workload.
    pub fn in_mesh(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
        spec: Option<&PodSpec>,
    ) -> bool {
        let inject = [labels, annotations].into_iter().find_map(|m| m.get("sidecar.istio.io/inject"));
        if self.options.strait_workloads {
            return inject.is_none_or(|v| v != "false");
        }
        let containers = spec.into_iter().flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()));
        if containers.filter(|c| c.name == "istio-proxy").any(|c| c.image.as_deref().is_some_and(|i| !i.is_empty())) {
            return true;
        }
        if let Some(v) = inject {
            return v == "true";
        }
        self.namespace(namespace).is_some_and(|ns| ns.labels().get("istio-injection").is_some_and(|v| v == "enabled"))
    }

    /// Istio's `InitServiceEntryHostMap`: every ServiceEntry host and Kubernetes Service by the
    /// namespaces that can see it.
    pub fn host_map(&self) -> HostMap {
        let mut map = HostMap::default();
        for (o, se) in self.service_entries() {
            let entry = HostEntry {
                ports: se
                    .ports
                    .iter()
                    .map(|p| HostPort {
                        number: p.number,
                        name: p.name.clone(),
                        protocol: p.protocol.clone().unwrap_or_default(),
                    })
                    .collect(),
                workload_labels: se.workload_selector.as_ref().map(|w| w.labels.clone()).unwrap_or_default(),
            };
            for h in &se.hosts {
                if util::exports_to_all(&se.export_to) {
                    map.insert(util::EXPORT_ALL, &o.namespace, h, entry.clone());
                    continue;
                }
                for e in &se.export_to {
                    match e.as_str() {
                        util::EXPORT_ALL => {
                            map.insert(util::EXPORT_ALL, &o.namespace, h, entry.clone());
                            break;
                        }
                        util::EXPORT_LOCAL => map.insert(&o.namespace, &o.namespace, h, entry.clone()),
                        ns => map.insert(ns, &o.namespace, h, entry.clone()),
                    }
                }
            }
        }
        for (o, svc) in self.services() {
            let entry = HostEntry {
                ports: svc
                    .ports
                    .iter()
                    .flatten()
                    .map(|p| HostPort {
                        number: u32::try_from(p.port).unwrap_or_default(),
                        name: p.name.clone().unwrap_or_default(),
                        protocol: p.protocol.clone().unwrap_or_default(),
                    })
                    .collect(),
                workload_labels: BTreeMap::new(),
            };
            for scope in service_scopes(o) {
                map.insert(&scope, &o.namespace, &o.name, entry.clone());
            }
        }
        map
    }
}

/// The namespaces a Service is visible in, from its `networking.istio.io/exportTo` annotation.
fn service_scopes(o: &Obj) -> Vec<String> {
    match o.annotations().get("networking.istio.io/exportTo").map(String::as_str) {
        None | Some("") => vec![util::EXPORT_ALL.to_string()],
        Some(anno) => anno
            .split(',')
            .map(str::trim)
            .map(|ns| if ns == util::EXPORT_LOCAL { o.namespace.clone() } else { ns.to_string() })
            .collect(),
    }
}

/// Collects the messages of one analyzer.
pub struct Reporter {
    analyzer: &'static str,
    /// Messages so far.
    pub messages: Vec<Message>,
}

impl Reporter {
    /// A reporter for the analyzer called `analyzer`.
    pub fn new(analyzer: &'static str) -> Reporter {
        Reporter { analyzer, messages: Vec::new() }
    }

    /// Reports a message about `obj`, at the line of the field `line` when given.
    pub fn report(&mut self, kind: &'static MessageType, obj: &Obj, line: Option<usize>, args: Vec<Arg>) {
        self.messages.push(Message { kind, args, origin: Some(obj.origin()), line, analyzer: self.analyzer });
    }

    /// Adds a message built elsewhere, as this analyzer's.
    pub fn push(&mut self, mut m: Message) {
        m.analyzer = self.analyzer;
        self.messages.push(m);
    }

    /// Reports a message about `obj` at the field `path` (when the file has it).
    pub fn at(&mut self, kind: &'static MessageType, obj: &Obj, path: &str, args: Vec<Arg>) {
        self.report(kind, obj, obj.line_of(path), args);
    }
}
