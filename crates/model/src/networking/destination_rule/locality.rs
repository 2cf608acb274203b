//! Locality-aware load balancing: [`LocalityLoadBalancerSetting`] (weighted distribution,
//! region failover, failover priority labels; also MeshConfig's `localityLbSetting`) and
//! [`ZoneAwareLoadBalancerSetting`] (Envoy zone-aware routing), with Istio's
//! `ValidateLocalityLbSetting` and `ValidateZoneAwareLbSetting` rules.

use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Topology labels that `failover` already orders, so they may not appear in
/// `failoverPriority` next to it.
const TOPOLOGY_LABELS: [&str; 3] =
    ["topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone"];

/// Istio `LocalityLoadBalancerSetting`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalityLoadBalancerSetting {
    /// Weighted traffic distribution from source localities; exclusive with `failover`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distribute: Vec<LocalityDistribute>,
    /// Region to fail over to when a region's endpoints are unhealthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover: Vec<LocalityFailover>,
    /// Ordered labels (`topology.kubernetes.io/region`, custom labels, `label=value`) that
    /// rank endpoints by how many they share with the client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover_priority: Vec<String>,
    /// Turns locality load balancing on or off (mesh default: on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Istio `LocalityLoadBalancerSetting.Distribute`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalityDistribute {
    /// Source locality `region/zone/subzone`, `*` allowed as the last part.
    #[serde(default)]
    pub from: String,
    /// Destination localities and their weights (1-100, summing to 100).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub to: BTreeMap<String, u32>,
}

/// Istio `LocalityLoadBalancerSetting.Failover` (and the zone-aware one, same shape).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalityFailover {
    /// Originating region.
    #[serde(default)]
    pub from: String,
    /// Region to fail over to.
    #[serde(default)]
    pub to: String,
}

/// Istio `ZoneAwareLoadBalancerSetting`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ZoneAwareLoadBalancerSetting {
    /// Turns zone-aware routing on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Cross-region failover order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover: Vec<LocalityFailover>,
    /// Custom labels ranking endpoints (topology labels are implicit and not allowed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover_priority: Vec<String>,
    /// Smallest cluster for which zone-aware routing is used (≥ 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_cluster_size: Option<u64>,
}

/// Mesh-wide settings are validated as if outlier detection were configured, as Istio does
/// (each DestinationRule brings its own).
impl Validate for LocalityLoadBalancerSetting {
    fn validate(&self, v: &mut Validator<'_>) {
        self.validate_with(v, true);
    }
}

impl Validate for ZoneAwareLoadBalancerSetting {
    fn validate(&self, v: &mut Validator<'_>) {
        self.validate_with(v, true);
    }
}

impl LocalityLoadBalancerSetting {
    /// Validates the setting; without outlier detection failover never triggers, so Istio
    /// warns when `has_outlier` is false and failover is configured.
    pub fn validate_with(&self, v: &mut Validator<'_>, has_outlier: bool) {
        if !self.distribute.is_empty() && !self.failover.is_empty() {
            v.error("can not simultaneously specify 'distribute' and 'failover'");
        }
        if !self.failover.is_empty()
            && let Some(label) = self.failover_priority.iter().find(|l| TOPOLOGY_LABELS.contains(&l.as_str()))
        {
            v.error_at(
                "failoverPriority",
                format!("can not simultaneously set 'failover' and topology label '{label}' in 'failover_priority'"),
            );
        }
        v.each("distribute", &self.distribute, |v, d| d.validate(v));
        let sources: Vec<&str> = self.distribute.iter().map(|d| d.from.as_str()).collect();
        if let Err(e) = check_localities(&sources) {
            v.error_at("distribute", e);
        }
        if (!self.failover.is_empty() || !self.failover_priority.is_empty()) && !has_outlier {
            v.warn("outlier detection policy must be provided for failover");
        }
        v.each("failover", &self.failover, |v, f| {
            if f.from == f.to {
                v.error("locality lb failover settings must specify different regions");
            }
            if f.from.contains('/') || f.to.contains('/') {
                v.error("locality lb failover only specify region");
            }
            if f.from.contains('*') || f.to.contains('*') {
                v.error("locality lb failover region should not contain '*' wildcard");
            }
        });
    }
}

impl Validate for LocalityDistribute {
    fn validate(&self, v: &mut Validator<'_>) {
        v.field("to", |v| {
            let mut total: u64 = 0;
            for (locality, weight) in &self.to {
                if !(1..=100).contains(weight) {
                    v.key(locality, |v| v.error(format!("locality weight must be in range [1, 100], got {weight}")));
                }
                total += u64::from(*weight);
            }
            if total != 100 {
                v.error(format!("total locality weight {total} != 100"));
            }
            let targets: Vec<&str> = self.to.keys().map(String::as_str).collect();
            if let Err(e) = check_localities(&targets) {
                v.error(e);
            }
        });
    }
}

impl ZoneAwareLoadBalancerSetting {
    /// Validates the setting (see [`LocalityLoadBalancerSetting::validate_with`]).
    pub fn validate_with(&self, v: &mut Validator<'_>, has_outlier: bool) {
        v.each("failoverPriority", &self.failover_priority, |v, label| {
            if TOPOLOGY_LABELS.contains(&label.as_str()) {
                v.error(format!("'failover_priority' for zone aware lb must not use topology label '{label}'; region- and zone-level routing are handled automatically"));
            }
        });
        if (!self.failover.is_empty() || !self.failover_priority.is_empty()) && !has_outlier {
            v.warn("outlier detection policy must be provided for failover");
        }
        v.each("failover", &self.failover, |v, f| {
            if f.from == f.to {
                v.error("zone aware lb failover settings must specify different regions");
            }
            if f.from.contains('/') || f.to.contains('/') {
                v.error(
                    "zone aware lb failover only specifies region; zone and subzone failover are handled automatically",
                );
            }
            if f.from.contains('*') || f.to.contains('*') {
                v.error("zone aware lb failover region should not contain '*' wildcard");
            }
        });
        v.opt("minClusterSize", &self.min_cluster_size, |v, n| rules::openapi_range(v, *n, Some(1), None));
    }
}

/// Regions seen so far: region → zone → subzones; `*` marks "all" at that level.
type LocalityTree = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// Istio `validateLocalities`: each locality is `region[/zone[/subzone]]` with at most one `*`,
/// at the end, and no locality may overlap an earlier one. Returns the first problem.
fn check_localities(localities: &[&str]) -> Result<(), String> {
    let mut tree = LocalityTree::new();
    for locality in localities {
        let stars = locality.matches('*').count();
        if stars > 1 || (stars == 1 && !locality.ends_with('*')) {
            return Err(format!("locality {locality} wildcard '*' number can not exceed 1 and must be in the end"));
        }
        let overlap = || format!("locality {locality} overlap with previous specified ones");
        if tree.contains_key("*") {
            return Err(overlap());
        }
        let parts: Vec<&str> = locality.splitn(3, '/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(format!("locality {locality} must not contain empty region/zone/subzone info"));
        }
        if !insert_locality(&mut tree, &parts) {
            return Err(overlap());
        }
    }
    Ok(())
}

/// Adds one parsed locality to the tree; false when it overlaps what is there.
fn insert_locality(tree: &mut LocalityTree, parts: &[&str]) -> bool {
    let all = || BTreeSet::from(["*".to_string()]);
    match parts {
        [region] => {
            if tree.contains_key(*region) {
                return false;
            }
            tree.insert(region.to_string(), BTreeMap::from([("*".to_string(), all())]));
        }
        [region, zone] => {
            let zones = tree.entry(region.to_string()).or_default();
            if zones.contains_key("*") || zones.contains_key(*zone) {
                return false;
            }
            zones.insert(zone.to_string(), all());
        }
        [region, zone, subzone] => {
            let zones = tree.entry(region.to_string()).or_default();
            if zones.contains_key("*") {
                return false;
            }
            let subzones = zones.entry(zone.to_string()).or_default();
            if subzones.contains("*") || !subzones.insert(subzone.to_string()) {
                return false;
            }
        }
        _ => {}
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localities_must_not_overlap() {
        assert!(check_localities(&["us-east", "us-west/zone1", "us-west/zone2/a"]).is_ok());
        assert!(check_localities(&["us-east", "us-east/zone1"]).is_err());
        assert!(check_localities(&["us-west/zone1/a", "us-west/zone1/a"]).is_err());
        assert!(check_localities(&["*", "us-east"]).is_err());
        assert!(check_localities(&["us-*/a"]).is_err());
        assert!(check_localities(&["us-east//a"]).is_err());
    }
}
