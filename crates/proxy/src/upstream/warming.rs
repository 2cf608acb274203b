//! Cluster warming, as Envoy does it: an EDS cluster is not used until its first
//! ClusterLoadAssignment arrives. Over ADS the cluster (CDS) comes first and its endpoints
//! (EDS) a moment later, and a route naming the new cluster can land in between; without
//! warming, requests in that gap got `503 UH no healthy upstream` although nothing was
//! unhealthy (seen right after adding a ServiceEntry). A request that picks a cluster whose
//! endpoints never arrived waits, bounded by [`WARMING_WAIT`], for the next EDS update. A
//! cluster whose assignment arrived empty is not warming: that is a real `UH`.

use crate::config::Config;
use crate::config::cluster::{Cluster, Discovery};
use crate::state::Shared;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long a request waits for a warming cluster's endpoints. The control plane sends them
/// right behind the cluster, so this is rarely approached; it only bounds a control plane that
/// never does (Envoy's `initial_fetch_timeout` is 15 s, but a request should not hang that long).
pub const WARMING_WAIT: Duration = Duration::from_secs(2);

/// True when `cluster` is an EDS cluster with no endpoints received yet.
pub fn is_warming(cluster: &Cluster, config: &Config) -> bool {
    matches!(&cluster.discovery, Discovery::Eds(name) if !config.endpoints.contains_key(name))
}

/// The config to pick a host of `cluster_name` from: the current one, or, when that cluster
/// is warming, the first config in which its endpoints arrived (or the latest at the deadline).
pub async fn warmed(shared: &Shared, cluster_name: &str, config: Arc<Config>) -> Arc<Config> {
    let warming = |c: &Config| c.clusters.get(cluster_name).is_some_and(|cl| is_warming(cl, c));
    if !warming(&config) {
        return config;
    }
    let deadline = Instant::now() + WARMING_WAIT;
    loop {
        // Registered before the check, so an update between check and wait is not missed.
        let notified = shared.endpoints_arrived.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let latest = shared.config.load_full();
        if !warming(&latest) || Instant::now() >= deadline {
            return latest;
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}
