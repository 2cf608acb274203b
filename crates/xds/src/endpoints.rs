//! Placeholder (being written).

use crate::scope::Scope;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;

/// Builds this xDS type for the scope.
pub fn build(_scope: &Scope<'_>) -> Vec<ClusterLoadAssignment> {
    Vec::new()
}
