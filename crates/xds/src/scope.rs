//! What one proxy may see: services and config visible from its namespace (`exportTo`), and
//! (later) narrowed by the Sidecar resource's egress hosts. Generation works only through a
//! [`Scope`], so scoping rules live in one place.

use strait_registry::{Proxy, Registry, Service};

/// The view of the registry one proxy gets.
pub struct Scope<'a> {
    /// The whole registry.
    pub registry: &'a Registry,
    /// The proxy.
    pub proxy: &'a Proxy,
}

impl<'a> Scope<'a> {
    /// The scope of `proxy`.
    pub fn new(registry: &'a Registry, proxy: &'a Proxy) -> Self {
        Self { registry, proxy }
    }

    /// Services this proxy may reach, in registry order.
    pub fn services(&self) -> impl Iterator<Item = &'a Service> + '_ {
        let ns = self.proxy.id.namespace.clone();
        self.registry.services.iter().filter(move |s| s.visibility.visible_to(&ns) || s.namespace == ns)
    }
}
