//! Building a [`Registry`](crate::Registry) from loaded resources (placeholder, being written).

use crate::Registry;
use strait_model::Resource;

/// Builds the registry from every loaded resource.
pub fn build(_resources: &[Resource]) -> Registry {
    Registry { domain: "cluster.local".into(), ..Registry::default() }
}
