//! `--isolation netns` (root, Linux): a network namespace per pod, as in a cluster, with
//! istio-iptables' capture, so apps need no proxy settings and the sidecar's 15001/15006
//! capture path carries all their traffic. Namespaces and capture rules come from
//! `strait_testkit::netns`.
//!
//! Topology: a "node" namespace holds a bridge (`br0`, 198.18.0.1/16) that every pod's `eth0`
//! (198.18.C.D/16, default route via the bridge) is plugged into, and an uplink to the host
//! namespace (`strait-up0`, 198.19.255.1/30 on the host, .2 in the node, which forwards), so
//! the host reaches every pod IP and pods reach the host address: the control plane and
//! `hostNetwork` pods listen there. Service names resolve through a per-pod `/etc/hosts`
//! (`/etc/netns/NAME/hosts`, which `ip netns exec` mounts over `/etc/hosts`). Everything is
//! removed when the mesh stops (namespaces, links, route, hosts files); a run that was killed
//! is cleaned up by the next one.

use crate::plan::{Plan, PodPlan};
use std::path::PathBuf;
use std::sync::Arc;
use strait_testkit::netns::{self, Capture, Netns};

/// The host side of the uplink.
const UPLINK: &str = "strait-up0";
/// The bridge's address in the node namespace (the pods' gateway).
const GATEWAY: &str = "198.18.0.1";
/// Where `ip netns exec` finds per-namespace `/etc` files.
const ETC_NETNS: &str = "/etc/netns";

/// The namespaces of a running mesh; dropping it removes them.
pub struct Network {
    /// Each pod's namespace (`None`: the pod uses the host's network).
    pub pods: Vec<Option<Arc<Netns>>>,
    hosts: Vec<PathBuf>,
    // Declared last: dropped after the pods' namespaces (their veths end on its bridge).
    _node: Netns,
}

impl Drop for Network {
    fn drop(&mut self) {
        for dir in &self.hosts {
            let _ = std::fs::remove_dir_all(dir);
        }
        self.pods.clear();
        // The kernel frees a deleted namespace's devices asynchronously: remove the uplink (and
        // with it the route) now, so the next mesh can start at once.
        let _ = netns::ip(&["link", "del", UPLINK]);
    }
}

/// Builds the namespaces, links, routes, capture rules and hosts files for `plan`.
pub fn setup(plan: &Plan) -> Result<Network, String> {
    netns::check_available().map_err(|e| format!("--isolation netns: {e}"))?;
    netns::cleanup_stale();
    cleanup_stale_hosts();
    if std::path::Path::new(&format!("/sys/class/net/{UPLINK}")).exists() {
        return Err(format!("--isolation netns: link {UPLINK} exists: another mesh runs with network namespaces"));
    }
    let node = Netns::create("node")?;
    node.ip(&["link", "add", "br0", "type", "bridge"])?;
    node.add_address("br0", &format!("{GATEWAY}/16"))?;
    node.ip(&["link", "set", "br0", "up"])?;
    netns::ip(&["link", "add", UPLINK, "type", "veth", "peer", "name", "up0", "netns", node.name()])?;
    let host = plan.pods.first().map_or_else(|| crate::plan::Network::Netns.node_ip(), |p| p.host_ip);
    netns::ip(&["addr", "add", &format!("{host}/30"), "dev", UPLINK])?;
    netns::ip(&["link", "set", UPLINK, "up"])?;
    let node_side = std::net::Ipv4Addr::from(u32::from(host) + 1);
    node.add_address("up0", &format!("{node_side}/30"))?;
    node.ip(&["link", "set", "up0", "up"])?;
    netns::ip(&["route", "add", "198.18.0.0/16", "via", &node_side.to_string()])?;
    let sysctl = node.command("sysctl").args(["-q", "-w", "net.ipv4.ip_forward=1"]).status();
    if !sysctl.is_ok_and(|s| s.success()) {
        return Err("cannot enable forwarding in the node namespace".into());
    }
    let mut net = Network { pods: Vec::new(), hosts: Vec::new(), _node: node };
    for (i, pod) in plan.pods.iter().enumerate() {
        if pod.ip == pod.host_ip {
            net.pods.push(None);
            continue;
        }
        let ns = Netns::create(&format!("p{i}"))?;
        let veth = format!("sv{i}");
        net._node.ip(&["link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", ns.name()])?;
        net._node.ip(&["link", "set", &veth, "master", "br0"])?;
        net._node.ip(&["link", "set", &veth, "up"])?;
        ns.add_address("eth0", &format!("{}/16", pod.ip))?;
        ns.ip(&["link", "set", "eth0", "up"])?;
        ns.default_route(GATEWAY)?;
        if pod.sidecar {
            Capture::istio().install(&ns)?;
        }
        net.hosts.push(write_hosts(ns.name(), pod, plan)?);
        net.pods.push(Some(Arc::new(ns)));
    }
    Ok(net)
}

/// `/etc/netns/NAME/hosts`: localhost, the pod's own name, and every Service (short names
/// only for the pod's namespace, as the cluster's DNS search path would allow).
fn write_hosts(ns: &str, pod: &PodPlan, plan: &Plan) -> Result<PathBuf, String> {
    let dir = PathBuf::from(ETC_NETNS).join(ns);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut text = format!("127.0.0.1 localhost\n::1 localhost\n{} {}\n", pod.ip, pod.name);
    for (name, namespace, ip) in &plan.services {
        let fqdn = format!("{name}.{namespace}.svc.cluster.local");
        let short = if *namespace == pod.namespace { name.as_str() } else { "" };
        text.push_str(&format!("{ip} {fqdn} {name}.{namespace}.svc {name}.{namespace} {short}\n"));
    }
    std::fs::write(dir.join("hosts"), text).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// Removes hosts files left by a killed run (namespace names carry the creator's pid).
fn cleanup_stale_hosts() {
    let Ok(entries) = std::fs::read_dir(ETC_NETNS) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&format!("{}-", netns::PREFIX)) else { continue };
        let pid = rest.split('-').next().unwrap_or_default();
        if pid.parse::<u32>().is_ok_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
