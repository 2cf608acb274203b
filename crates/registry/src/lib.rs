//! The service registry, as istiod's service model: what services exist (Kubernetes Services
//! and ServiceEntries), their ports and protocols, their endpoints (from EndpointSlices,
//! Endpoints, Pods and WorkloadEntries), the Istio config that applies to them, and the proxies
//! that ask for config. Everything here is plain data built by pure functions, so xDS
//! generation can be tested with tables and snapshots.
//!
//! Dependencies point inward: this crate knows the model, not files, kube or tonic.

pub mod build;
pub mod hosts;
pub mod identity;
pub mod protocol;
pub mod proxy;
pub mod store;

pub use protocol::Protocol;
pub use proxy::{NodeId, NodeType, Proxy};
pub use store::ConfigStore;

use std::collections::BTreeMap;
use strait_model::mesh::MeshConfig;

/// Where a service came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A Kubernetes Service.
    Kubernetes,
    /// A ServiceEntry (`location` MESH_INTERNAL when `internal`).
    ServiceEntry {
        /// MESH_INTERNAL (true) or MESH_EXTERNAL (false, the default).
        internal: bool,
    },
}

/// How endpoints are resolved (ServiceEntry `resolution`; Kubernetes services are `Static`
/// from EndpointSlices, headless ones `Passthrough`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Known endpoint IPs (EDS).
    Static,
    /// DNS names resolved by the proxy, all addresses used (STRICT_DNS).
    Dns,
    /// DNS name, first address used (LOGICAL_DNS).
    DnsRoundRobin,
    /// Forward to the original destination (ServiceEntry NONE, headless services).
    Passthrough,
}

/// Which namespaces may see a service or a piece of config (`exportTo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Every namespace (`*`, the default).
    Public,
    /// Only these namespaces (`.` already replaced by the owner's namespace).
    Namespaces(Vec<String>),
    /// Nobody (`~`).
    Nobody,
}

impl Visibility {
    /// True when a proxy in `ns` may see it.
    pub fn visible_to(&self, ns: &str) -> bool {
        match self {
            Visibility::Public => true,
            Visibility::Namespaces(list) => list.iter().any(|n| n == ns),
            Visibility::Nobody => false,
        }
    }
}

/// One port of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// The port clients connect to (the Service port).
    pub number: u32,
    /// The port name (decides the protocol when `appProtocol` is absent).
    pub name: String,
    /// The protocol selected for this port.
    pub protocol: Protocol,
}

/// One endpoint (pod, WorkloadEntry or ServiceEntry endpoint) of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// IP address, or a DNS name for DNS resolution, or `unix://…`.
    pub address: String,
    /// Service port number → the endpoint's port (target port resolved).
    pub ports: BTreeMap<u32, u32>,
    /// The workload's labels (subsets select on these).
    pub labels: BTreeMap<String, String>,
    /// Service account, for the SPIFFE identity.
    pub service_account: String,
    /// Namespace of the workload.
    pub namespace: String,
    /// Pod or WorkloadEntry name ("" for inline ServiceEntry endpoints).
    pub workload: String,
    /// True when the workload has an Istio sidecar (`security.istio.io/tlsMode: istio`).
    pub istio_tls: bool,
    /// False for not-ready addresses; they are sent to proxies as unhealthy.
    pub ready: bool,
    /// Load-balancing weight (ServiceEntry endpoints; 1 otherwise).
    pub weight: u32,
    /// `region/zone/subzone`, when known.
    pub locality: String,
}

/// A service in the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// The fully qualified host (`reviews.default.svc.cluster.local`, or a ServiceEntry host).
    pub hostname: String,
    /// The namespace that owns it.
    pub namespace: String,
    /// Kubernetes Service or ServiceEntry.
    pub origin: Origin,
    /// How endpoints are found.
    pub resolution: Resolution,
    /// VIPs: ClusterIP or ServiceEntry addresses (IPs or CIDRs); empty for headless.
    pub addresses: Vec<String>,
    /// Ports with their protocols.
    pub ports: Vec<ServicePort>,
    /// Endpoints, each with its port map.
    pub endpoints: Vec<Endpoint>,
    /// Who may see this service.
    pub visibility: Visibility,
    /// The service's own labels.
    pub labels: BTreeMap<String, String>,
}

impl Service {
    /// The port with this number.
    pub fn port(&self, number: u32) -> Option<&ServicePort> {
        self.ports.iter().find(|p| p.number == number)
    }
}

/// A workload instance (a pod or WorkloadEntry), which a proxy is matched to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Pod or WorkloadEntry name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// IP address.
    pub ip: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Service account (`default` when unset).
    pub service_account: String,
    /// Container ports the workload declares (name → number), for inbound listeners.
    pub ports: BTreeMap<String, u32>,
}

/// The registry: services, workloads, the Istio config and mesh settings, as one immutable
/// snapshot. A config change builds a new one.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    /// Services, sorted by (hostname, namespace) so output is deterministic.
    pub services: Vec<Service>,
    /// Workloads, sorted by (namespace, name).
    pub workloads: Vec<Workload>,
    /// The Istio config objects.
    pub config: ConfigStore,
    /// Mesh settings with Istio's defaults applied.
    pub mesh: MeshConfig,
    /// The cluster's DNS domain suffix (`cluster.local`).
    pub domain: String,
}
