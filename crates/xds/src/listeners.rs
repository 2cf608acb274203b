//! Placeholder (being written).

use crate::scope::Scope;
use envoy_types::pb::envoy::config::listener::v3::Listener;

/// Builds this xDS type for the scope.
pub fn build(_scope: &Scope<'_>) -> Vec<Listener> {
    Vec::new()
}
