//! Placeholder (being written).

use crate::scope::Scope;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;

/// Builds this xDS type for the scope.
pub fn build(_scope: &Scope<'_>) -> Vec<RouteConfiguration> {
    Vec::new()
}
