//! The TCP proxy network filter: `TcpProxy` → [`TcpProxy`] (one cluster or exactly weighted
//! clusters, the access log and its encoding).

use super::super::{ConfigError, Result, no_other_fields};
use crate::lb::Swrr;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy as EnvoyTcpProxy, tcp_proxy};

/// A TCP proxy: the cluster (or weighted clusters) connections go to.
#[derive(Debug)]
pub struct TcpProxy {
    /// The stats prefix (also the access log's default cluster when none was picked).
    pub stat_prefix: std::sync::Arc<str>,
    /// Candidate clusters.
    pub clusters: Vec<String>,
    /// Picker over `clusters` (exact weights).
    pub picker: Swrr,
    /// Whether Istio's stdout access log is on.
    pub access_log: bool,
    /// Its encoding (TEXT or JSON).
    pub log_format: crate::access_log::Format,
}

impl TcpProxy {
    /// The cluster for the next connection.
    pub fn pick(&self) -> &str {
        self.clusters.get(self.picker.pick()).map_or("", String::as_str)
    }
}

impl TryFrom<&EnvoyTcpProxy> for TcpProxy {
    type Error = ConfigError;

    fn try_from(t: &EnvoyTcpProxy) -> Result<Self> {
        let (clusters, weights): (Vec<String>, Vec<u32>) = match &t.cluster_specifier {
            Some(tcp_proxy::ClusterSpecifier::Cluster(c)) => (vec![c.clone()], vec![1]),
            Some(tcp_proxy::ClusterSpecifier::WeightedClusters(w)) => {
                if w.clusters.iter().any(|c| c.metadata_match.is_some()) {
                    return Err(ConfigError::unsupported("weighted_clusters.clusters.metadata_match"));
                }
                w.clusters.iter().map(|c| (c.name.clone(), c.weight)).unzip()
            }
            None => return Err(ConfigError::new("cluster_specifier", "a cluster is required")),
        };
        let picker = Swrr::new(weights)
            .ok_or_else(|| ConfigError::new("weighted_clusters", "at least one cluster needs a positive weight"))?;
        let log = super::super::hcm::access_log("access_log", &t.access_log)?;
        let rest =
            EnvoyTcpProxy { stat_prefix: String::new(), cluster_specifier: None, access_log: Vec::new(), ..t.clone() };
        no_other_fields(&rest)?;
        Ok(TcpProxy {
            stat_prefix: t.stat_prefix.as_str().into(),
            clusters,
            picker,
            access_log: log.is_some(),
            log_format: log.unwrap_or_default(),
        })
    }
}
