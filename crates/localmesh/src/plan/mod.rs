//! Manifests → the pods the local mesh runs. Pure: the loaded resources go in, every pod comes
//! out with its name, labels, service account, addresses, sidecar or not, and each container's
//! program, arguments, environment and readiness probe fully resolved, or every problem found
//! comes out as a message naming the object.
//!
//! Addressing without privileges: each pod gets two loopback addresses of its own. The pod IP
//! (`127.10.0.0/16`) is the address the mesh knows: the Pod object's `status.podIP`, the
//! Service endpoints, and where the sidecar binds its inbound listeners (`POD_IP:SERVICE_PORT`,
//! as the control plane's capture-free listeners do) and its outbound HTTP proxy (`:15001`).
//! The app address (`127.11.0.0/16`, same last two octets) is the pod's private interface:
//! the app binds there (it is `POD_IP` and `status.podIP` inside the pod), and the sidecar
//! delivers inbound traffic to it (`APP_ADDRESS`). One address cannot serve both: the sidecar
//! and the app would both need `POD_IP:9080`. Pods without a sidecar (opted out, or
//! `hostNetwork`, which use the "node" address `127.10.0.1`) bind their pod IP directly.
//!
//! With network namespaces ([`Network::Netns`]) each pod has its own network stack, so one
//! address is enough: pods get `198.18.C.D` (a range reserved for benchmarking, unlikely to
//! clash with a real network), the app binds it and iptables hands its traffic to the sidecar;
//! the node (the host side, where `hostNetwork` pods and the control plane run) is
//! `198.19.255.1`, and Services without a `clusterIP` get a name-only address in `198.19.0.0/24`
//! for the pods' `/etc/hosts` (routing is by Host header, so any address reaches the sidecar).

mod container;
pub mod env;
mod names;
pub mod object;
#[cfg(test)]
mod tests;

pub use container::{ContainerPlan, Probe, ProbeAction};

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use strait_model::Resource;

/// How pods are addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// Loopback addresses, sidecar as an explicit proxy (no privileges).
    Loopback,
    /// A network namespace per pod, traffic captured by iptables.
    Netns,
}

impl Network {
    /// The node's address: `status.hostIP`, and the pod IP of `hostNetwork` pods.
    pub fn node_ip(self) -> Ipv4Addr {
        match self {
            Network::Loopback => Ipv4Addr::new(127, 10, 0, 1),
            Network::Netns => Ipv4Addr::new(198, 19, 255, 1),
        }
    }
}
/// The sidecar's capture-free outbound HTTP proxy port (Istio's `proxyListenPort`).
pub const OUTBOUND_PORT: u16 = 15001;
/// The sidecar's readiness port (`/healthz/ready`).
pub const HEALTH_PORT: u16 = 15021;
/// The sidecar's Prometheus port.
pub const METRICS_PORT: u16 = 15090;
/// Label or annotation that opts a pod out of sidecar injection.
const INJECT: &str = "sidecar.istio.io/inject";
/// Namespace label that turns injection off for the whole namespace.
const NAMESPACE_INJECTION: &str = "istio-injection";
/// Per-pod ProxyConfig annotation (holdApplicationUntilProxyStarts).
const PROXY_CONFIG: &str = "proxy.istio.io/config";

/// Every pod of the mesh, in a stable order.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The pods.
    pub pods: Vec<PodPlan>,
    /// Things run differently from a cluster (ignored init containers, …).
    pub warnings: Vec<String>,
    /// Every Service: (name, namespace, the address its name resolves to in the pods).
    pub services: Vec<(String, String, Ipv4Addr)>,
}

/// One replica of a Deployment.
#[derive(Clone, Debug, PartialEq)]
pub struct PodPlan {
    /// `DEPLOYMENT-HASH-SUFFIX`, as a ReplicaSet names its pods.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// The Deployment.
    pub deployment: String,
    /// Template labels plus `pod-template-hash`.
    pub labels: BTreeMap<String, String>,
    /// Template annotations.
    pub annotations: BTreeMap<String, String>,
    /// `spec.serviceAccountName` (default `default`).
    pub service_account: String,
    /// The address the mesh knows the pod by (see the module comment).
    pub ip: Ipv4Addr,
    /// The node's address (`status.hostIP`).
    pub host_ip: Ipv4Addr,
    /// Where the pod's processes bind (`POD_IP` inside the pod).
    pub app_ip: Ipv4Addr,
    /// Whether the pod runs a sidecar.
    pub sidecar: bool,
    /// Start the app only once the sidecar is ready (Istio's holdApplicationUntilProxyStarts,
    /// on by default in the local mesh).
    pub hold_until_proxy_starts: bool,
    /// Declared container ports: (name, number).
    pub ports: Vec<(Option<String>, u16)>,
    /// The containers, in manifest order.
    pub containers: Vec<ContainerPlan>,
}

impl PodPlan {
    /// `NAME.NAMESPACE`, as proxy-status names the pod's proxy.
    pub fn proxy_name(&self) -> String {
        format!("{}.{}", self.name, self.namespace)
    }

    /// The labels' `app` and `version` (`-` when missing).
    pub fn app_version(&self) -> (&str, &str) {
        let get = |k: &str| self.labels.get(k).map_or("-", String::as_str);
        (get("app"), get("version"))
    }
}

/// ConfigMaps and Secrets by (namespace, name), for `valueFrom` references.
type Data = BTreeMap<(String, String), BTreeMap<String, String>>;

/// Plans every Deployment in `resources`; `Err` lists every problem. On loopback, apps of pods
/// with a sidecar get `HTTP_PROXY` and friends pointing at it (capture-free mode).
pub fn plan(resources: &[Resource], network: Network) -> Result<Plan, Vec<String>> {
    let mut deployments: Vec<&apps::Deployment> = Vec::new();
    let (mut config_maps, mut secrets, mut no_injection) = (Data::new(), Data::new(), Vec::new());
    let mut warnings = Vec::new();
    let mut services = Vec::new();
    for r in resources {
        match r {
            Resource::Deployment(d) => deployments.push(d),
            Resource::Service(s) => {
                let (ns, name) = key(&s.metadata);
                let vip = s.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()).and_then(|ip| ip.parse().ok());
                let synthetic = Ipv4Addr::new(198, 19, 0, u8::try_from(services.len() % 250 + 1).unwrap_or(1));
                services.push((name, ns, vip.unwrap_or(synthetic)));
            }
            Resource::ConfigMap(cm) => {
                let data = cm.data.clone().unwrap_or_default();
                config_maps.insert(key(&cm.metadata), data.into_iter().collect());
            }
            Resource::Secret(s) => {
                let mut data: BTreeMap<String, String> = BTreeMap::new();
                for (k, v) in s.data.iter().flatten() {
                    data.insert(k.clone(), String::from_utf8_lossy(&v.0).into_owned());
                }
                data.extend(s.string_data.clone().unwrap_or_default());
                secrets.insert(key(&s.metadata), data);
            }
            Resource::Namespace(ns) => {
                let labels = ns.metadata.labels.as_ref();
                if labels.and_then(|l| l.get(NAMESPACE_INJECTION)).is_some_and(|v| v == "disabled") {
                    no_injection.push(ns.metadata.name.clone().unwrap_or_default());
                }
            }
            Resource::Pod(p) if p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_none() => warnings.push(format!(
                "Pod {}: bare Pods are not run (only Deployments are); it stays a registry object",
                key(&p.metadata).1
            )),
            _ => {}
        }
    }
    deployments.sort_by_key(|d| key(&d.metadata));
    let inputs = Inputs { config_maps: &config_maps, secrets: &secrets, no_injection: &no_injection, network };
    let mut out = Plan { pods: Vec::new(), warnings, services };
    let mut errors = Vec::new();
    let mut index = 0usize;
    for d in deployments {
        let (ns, name) = key(&d.metadata);
        let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0) as usize;
        for replica in 0..replicas {
            match pod(d, replica, &mut index, &inputs, &mut out.warnings) {
                Ok(p) => out.pods.push(p),
                Err(e) => {
                    errors.push(format!("Deployment {ns}/{name}: {e}"));
                    break;
                }
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

struct Inputs<'a> {
    config_maps: &'a Data,
    secrets: &'a Data,
    no_injection: &'a [String],
    network: Network,
}

fn key(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
    (m.namespace.clone().unwrap_or_else(|| "default".into()), m.name.clone().unwrap_or_default())
}

fn pod(
    d: &apps::Deployment,
    replica: usize,
    index: &mut usize,
    inputs: &Inputs<'_>,
    warnings: &mut Vec<String>,
) -> Result<PodPlan, String> {
    let (namespace, deployment) = key(&d.metadata);
    let template = d.spec.as_ref().map(|s| &s.template).ok_or("no spec")?;
    let spec: &core::PodSpec = template.spec.as_ref().ok_or("no spec.template.spec")?;
    let meta = template.metadata.clone().unwrap_or_default();
    let annotations = meta.annotations.clone().unwrap_or_default();
    let hash = names::template_hash(&namespace, &deployment);
    let mut labels = meta.labels.clone().unwrap_or_default();
    labels.insert("pod-template-hash".into(), hash.clone());
    let name = format!("{deployment}-{hash}-{}", names::suffix(&hash, replica));
    let host_network = spec.host_network == Some(true);
    let opted_out = |m: &BTreeMap<String, String>| m.get(INJECT).is_some_and(|v| v == "false");
    let sidecar =
        !host_network && !opted_out(&labels) && !opted_out(&annotations) && !inputs.no_injection.contains(&namespace);
    let host_ip = inputs.network.node_ip();
    let (ip, app_ip) = if host_network {
        (host_ip, host_ip)
    } else {
        let addrs = names::addresses(*index, inputs.network)?;
        *index += 1;
        if sidecar { addrs } else { (addrs.0, addrs.0) }
    };
    if spec.init_containers.as_ref().is_some_and(|c| !c.is_empty()) && replica == 0 {
        warnings.push(format!("Deployment {namespace}/{deployment}: init containers are not run"));
    }
    let service_account = spec
        .service_account_name
        .clone()
        .or_else(|| spec.service_account.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".into());
    let mut pod = PodPlan {
        name,
        namespace,
        deployment,
        labels,
        annotations,
        service_account,
        ip,
        host_ip,
        app_ip,
        sidecar,
        hold_until_proxy_starts: true,
        ports: Vec::new(),
        containers: Vec::new(),
    };
    pod.hold_until_proxy_starts = hold_until_proxy_starts(&pod.annotations);
    pod.ports = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| Some((p.name.clone(), u16::try_from(p.container_port).ok()?)))
        .collect();
    let cms = scoped(inputs.config_maps, &pod.namespace);
    let secrets = scoped(inputs.secrets, &pod.namespace);
    for c in &spec.containers {
        let ctx = env::Context {
            pod: &pod.name,
            namespace: &pod.namespace,
            service_account: &pod.service_account,
            labels: &pod.labels,
            annotations: &pod.annotations,
            pod_ip: &pod.app_ip.to_string(),
            host_ip: &pod.host_ip.to_string(),
            config_maps: &cms,
            secrets: &secrets,
        };
        let planned = container::plan(c, &pod, &ctx, inputs.network == Network::Loopback)
            .map_err(|e| format!("container {:?}: {e}", c.name))?;
        pod.containers.push(planned);
    }
    if pod.containers.is_empty() {
        return Err("the pod template has no containers".into());
    }
    Ok(pod)
}

fn scoped(data: &Data, ns: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    data.iter().filter(|((n, _), _)| n == ns).map(|((_, name), d)| (name.clone(), d.clone())).collect()
}

/// `proxy.istio.io/config: "holdApplicationUntilProxyStarts: false"` turns the hold off.
fn hold_until_proxy_starts(annotations: &BTreeMap<String, String>) -> bool {
    let Some(text) = annotations.get(PROXY_CONFIG) else { return true };
    let docs = strait_config::yaml::parse_stream(text);
    let value = docs.into_iter().flatten().next().map(|d| d.value);
    value.and_then(|v| v.get("holdApplicationUntilProxyStarts").and_then(serde_json::Value::as_bool)).unwrap_or(true)
}

/// The environment the local mesh declares for every container before the manifest's own:
/// the downward API's usual names and, for pods with a sidecar, the proxy settings that send
/// the app's outbound HTTP (and, as `CONNECT`, HTTPS) through it.
pub fn base_env(pod: &PodPlan, proxy_env: bool) -> Vec<(String, String)> {
    let mut env = vec![
        ("POD_NAME".to_string(), pod.name.clone()),
        ("POD_NAMESPACE".to_string(), pod.namespace.clone()),
        ("POD_IP".to_string(), pod.app_ip.to_string()),
        ("SERVICE_ACCOUNT".to_string(), pod.service_account.clone()),
    ];
    if pod.sidecar && proxy_env {
        let proxy = format!("http://{}:{OUTBOUND_PORT}", pod.ip);
        let no_proxy = format!("localhost,127.0.0.1,{}", pod.app_ip);
        for k in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"] {
            env.push((k.to_string(), proxy.clone()));
        }
        env.push(("NO_PROXY".to_string(), no_proxy.clone()));
        env.push(("no_proxy".to_string(), no_proxy));
    }
    env
}
