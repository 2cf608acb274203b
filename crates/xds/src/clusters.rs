//! Placeholder (being written).

use crate::scope::Scope;
use envoy_types::pb::envoy::config::cluster::v3::Cluster;

/// Builds this xDS type for the scope.
pub fn build(_scope: &Scope<'_>) -> Vec<Cluster> {
    Vec::new()
}
