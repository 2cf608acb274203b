//! Runtime facts: what running workloads actually do, which no config file shows. Today they
//! are passed in (`strait analyze --runtime FILE`, or built by a caller); the local mesh
//! (`strait up`, issue 5) will fill them from the processes it runs. The analyzers that need
//! them (app listening only on 127.0.0.1 or on one address family, or not at all) do nothing
//! when there are none.
//!
//! ```yaml
//! workloads:
//! - namespace: bookinfo
//!   name: reviews-v1            # Pod (or Deployment) name in the config
//!   labels: {app: reviews}      # optional: used when the config has no such Pod/Deployment
//!   forwardsTo: 10.0.0.7        # where its sidecar sends inbound traffic (the app address)
//!   listening:
//!   - {address: 127.0.0.1, port: 9080}
//!   - {address: "::", port: 9090, v6Only: true}
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Facts about running workloads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeFacts {
    /// One entry per running workload (pod).
    #[serde(default)]
    pub workloads: Vec<WorkloadFacts>,
}

/// What one running workload does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadFacts {
    /// Namespace.
    pub namespace: String,
    /// Pod or Deployment name.
    pub name: String,
    /// Pod labels, when the config has no Pod or Deployment of that name.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The address the sidecar's inbound clusters send traffic to (the app address: the pod
    /// IP, or 127.0.0.1 for capture-free sidecars on a shared host).
    pub forwards_to: IpAddr,
    /// The TCP sockets the app listens on.
    #[serde(default)]
    pub listening: Vec<Listener>,
}

/// A listening socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Listener {
    /// Bound address (`0.0.0.0`, `::`, `127.0.0.1`, a pod IP).
    pub address: IpAddr,
    /// Port.
    pub port: u16,
    /// For `::`: set when the socket is IPV6_V6ONLY (does not take IPv4 connections).
    #[serde(default)]
    pub v6_only: bool,
}

impl Listener {
    /// True when a connection to `target` reaches this socket.
    pub fn accepts(&self, target: IpAddr) -> bool {
        match (self.address, target) {
            (a, t) if a == t => true,
            (IpAddr::V4(a), IpAddr::V4(_)) => a.is_unspecified(),
            (IpAddr::V6(a), IpAddr::V6(_)) => a.is_unspecified(),
            // A dual-stack `::` socket takes IPv4 connections as v4-mapped addresses.
            (IpAddr::V6(a), IpAddr::V4(_)) => a.is_unspecified() && !self.v6_only,
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(addr: &str, v6_only: bool) -> Listener {
        Listener { address: addr.parse().unwrap(), port: 80, v6_only }
    }

    #[test]
    fn which_sockets_take_which_connections() {
        let pod4: IpAddr = "10.0.0.7".parse().unwrap();
        let pod6: IpAddr = "fd00::7".parse().unwrap();
        assert!(l("0.0.0.0", false).accepts(pod4));
        assert!(!l("0.0.0.0", false).accepts(pod6));
        assert!(l("::", false).accepts(pod4));
        assert!(!l("::", true).accepts(pod4));
        assert!(l("::", true).accepts(pod6));
        assert!(!l("127.0.0.1", false).accepts(pod4));
        assert!(l("127.0.0.1", false).accepts("127.0.0.1".parse().unwrap()));
    }
}
