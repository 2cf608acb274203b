//! The VirtualService analyzers (Istio's `analyzers/virtualservice` package) and the walk over
//! a VirtualService's destinations they share (Istio's `getRouteDestinations` and
//! `getHTTPMirrorDestinations`, in Istio's order: tcp, tls, http).

pub mod conflicting_hosts;
pub mod destination_hosts;
pub mod destination_rules;
pub mod gateways;
pub mod jwt_claim;

use strait_model::networking::virtual_service::{Destination, VirtualService};

/// One destination of a VirtualService and where it sits.
pub struct RouteDest<'a> {
    /// `tcp`, `tls`, `http`, `http.mirror` or `http.mirrors`.
    pub rule: &'static str,
    /// Index of the route rule.
    pub rule_index: usize,
    /// Index of the destination in the rule.
    pub dest_index: usize,
    /// The destination.
    pub dest: &'a Destination,
}

impl RouteDest<'_> {
    /// The field path Istio uses to find the line of this destination's host. For
    /// `http.mirrors` Istio's path (`spec.http[i].mirrors[j].host`) names no field, so those
    /// messages carry the resource's line, as Istio's do.
    pub fn host_path(&self) -> String {
        match self.rule {
            "http.mirror" => format!("spec.http[{}].mirror.host", self.rule_index),
            "http.mirrors" => format!("spec.http[{}].mirrors[{}].host", self.rule_index, self.dest_index),
            rule => format!("spec.{rule}[{}].route[{}].destination.host", self.rule_index, self.dest_index),
        }
    }

    /// The subset, empty when none.
    pub fn subset(&self) -> &str {
        self.dest.subset.as_deref().unwrap_or_default()
    }
}

/// A missing destination reads as an empty one (host ""), as Go's nil-safe getters read it.
fn or_empty(d: &Option<Destination>) -> &Destination {
    static EMPTY: std::sync::LazyLock<Destination> = std::sync::LazyLock::new(Destination::default);
    d.as_ref().unwrap_or(&EMPTY)
}

/// Route destinations: tcp, then tls, then http.
pub fn route_destinations(vs: &VirtualService) -> Vec<RouteDest<'_>> {
    let mut out = Vec::new();
    for (i, r) in vs.tcp.iter().enumerate() {
        for (j, d) in r.route.iter().enumerate() {
            out.push(RouteDest { rule: "tcp", rule_index: i, dest_index: j, dest: or_empty(&d.destination) });
        }
    }
    for (i, r) in vs.tls.iter().enumerate() {
        for (j, d) in r.route.iter().enumerate() {
            out.push(RouteDest { rule: "tls", rule_index: i, dest_index: j, dest: or_empty(&d.destination) });
        }
    }
    for (i, r) in vs.http.iter().enumerate() {
        for (j, d) in r.route.iter().enumerate() {
            out.push(RouteDest { rule: "http", rule_index: i, dest_index: j, dest: or_empty(&d.destination) });
        }
    }
    out
}

/// HTTP mirror destinations (`mirror`, then each of `mirrors`).
pub fn mirror_destinations(vs: &VirtualService) -> Vec<RouteDest<'_>> {
    let mut out = Vec::new();
    for (i, r) in vs.http.iter().enumerate() {
        if let Some(dest) = &r.mirror {
            out.push(RouteDest { rule: "http.mirror", rule_index: i, dest_index: 0, dest });
        }
        for (j, m) in r.mirrors.iter().enumerate() {
            out.push(RouteDest { rule: "http.mirrors", rule_index: i, dest_index: j, dest: or_empty(&m.destination) });
        }
    }
    out
}

/// True when the VirtualService applies to sidecars (no gateways, or `mesh` among them).
pub fn bound_to_mesh(vs: &VirtualService) -> bool {
    vs.gateways.is_empty() || vs.gateways.iter().any(|g| g == crate::util::MESH_GATEWAY)
}
