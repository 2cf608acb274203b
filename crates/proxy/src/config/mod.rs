//! Compiled configuration: every xDS resource is converted ONCE, at the edge, from its Envoy
//! protobuf into the internal types the data path uses (regexes compiled, weights turned into
//! pickers, durations as `std::time::Duration`, names resolved into maps). A field or filter
//! we do not implement is an error naming the field, which the xDS client sends back as a
//! NACK; nothing is silently ignored. A whole [`Config`] is immutable and is swapped
//! atomically (`ArcSwap`) by the xDS client, so each request sees one consistent version.
//!
//! Parts: [`listener`] (listeners, filter chains, TCP proxy), [`hcm`] (HTTP connection
//! manager), [`route_table`] (route configurations and virtual hosts), [`matcher`] (route
//! matches), [`action`] (route actions, redirects, direct responses, header mutations),
//! [`policy`] (retries, faults), [`cluster`] (clusters and endpoints).

pub mod action;
pub mod cluster;
pub mod hcm;
pub mod listener;
pub mod local_reply;
pub mod matcher;
pub mod policy;
pub mod route_table;

pub use cluster::{Cluster, LoadAssignment};
pub use hcm::HttpManager;
pub use listener::Listener;
pub use route_table::RouteTable;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

/// One complete, consistent configuration.
#[derive(Debug, Default, Clone)]
pub struct Config {
    /// Listeners by name.
    pub listeners: BTreeMap<String, Arc<Listener>>,
    /// RDS route configurations by name.
    pub routes: HashMap<String, Arc<RouteTable>>,
    /// Clusters by name.
    pub clusters: HashMap<String, Arc<Cluster>>,
    /// EDS assignments by cluster (service) name.
    pub endpoints: HashMap<String, Arc<LoadAssignment>>,
    /// SDS secrets by name (TLS contexts look theirs up per connection: `crate::tls`).
    pub secrets: crate::tls::Secrets,
}

impl Config {
    /// The route table an HTTP connection manager uses (inline or by RDS name).
    pub fn route_table<'a>(&'a self, hcm: &'a HttpManager) -> Option<&'a Arc<RouteTable>> {
        match &hcm.routes {
            hcm::RouteSource::Inline(table) => Some(table),
            hcm::RouteSource::Rds(name) => self.routes.get(name),
        }
    }

    /// The hosts of a cluster: its inline assignment, or the EDS one by service name.
    pub fn hosts<'a>(&'a self, cluster: &'a Cluster) -> Option<&'a Arc<LoadAssignment>> {
        match &cluster.discovery {
            cluster::Discovery::Static(hosts) => Some(hosts),
            cluster::Discovery::Eds(name) => self.endpoints.get(name),
            cluster::Discovery::OriginalDst(_) => None,
        }
    }
}

/// Why a resource cannot be applied: the field path inside the resource and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    path: Vec<String>,
    reason: String,
}

impl ConfigError {
    /// An error about `field` (a path relative to where it is raised).
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError { path: vec![field.into()], reason: reason.into() }
    }

    /// A field this data plane does not implement (yet).
    pub fn unsupported(field: impl Into<String>) -> Self {
        Self::new(field, "not supported by the Strait proxy")
    }

    /// The same error, seen from the enclosing message's field `outer`.
    pub fn within(mut self, outer: impl Into<String>) -> Self {
        self.path.push(outer.into());
        self
    }

    /// The full field path (`filter_chains[0].filters[0]...`).
    pub fn field(&self) -> String {
        let mut out = String::new();
        for part in self.path.iter().rev().filter(|p| !p.is_empty()) {
            if !out.is_empty() && !part.starts_with('[') {
                out.push('.');
            }
            out.push_str(part);
        }
        out
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field(), self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Result of a conversion.
pub type Result<T> = std::result::Result<T, ConfigError>;

/// Adds `[i]` context to errors of a list item conversion.
pub(crate) fn each<T, U>(field: &str, items: &[T], f: impl Fn(&T) -> Result<U>) -> Result<Vec<U>> {
    items.iter().enumerate().map(|(i, t)| f(t).map_err(|e| e.within(format!("[{i}]")).within(field))).collect()
}

/// Fails when `rest` (a message with every field we handle cleared) still sets something,
/// naming the first such field by number: a data plane that silently drops config it does not
/// understand serves traffic the user did not ask for.
pub(crate) fn no_other_fields<M: prost::Message + prost::Name + Default + PartialEq>(rest: &M) -> Result<()> {
    if *rest == M::default() {
        return Ok(());
    }
    let bytes = rest.encode_to_vec();
    let number = first_field_number(&bytes).map_or_else(|| "?".to_string(), |n| n.to_string());
    Err(ConfigError::new(format!("#{number}"), format!("field number {number} of {} is not supported", M::full_name())))
}

/// The field number of the first key in a protobuf encoding.
fn first_field_number(bytes: &[u8]) -> Option<u64> {
    let mut key = 0u64;
    for (i, b) in bytes.iter().take(10).enumerate() {
        key |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Some(key >> 3);
        }
    }
    None
}

/// A protobuf duration as a std one (None when unset; negative is an error).
pub(crate) fn duration(
    field: &str,
    d: Option<&envoy_types::pb::google::protobuf::Duration>,
) -> Result<Option<std::time::Duration>> {
    let Some(d) = d else { return Ok(None) };
    if d.seconds < 0 || d.nanos < 0 {
        return Err(ConfigError::new(field, "negative duration"));
    }
    Ok(Some(std::time::Duration::new(d.seconds.unsigned_abs(), d.nanos.unsigned_abs())))
}

/// Unpacks an `Any` of the expected type, naming `field` on failure.
pub(crate) fn unpack<M: prost::Message + prost::Name + Default>(
    field: &str,
    any: &envoy_types::pb::google::protobuf::Any,
) -> Result<M> {
    if any.type_url != M::type_url() {
        return Err(ConfigError::new(field, format!("expected {}, got {}", M::type_url(), any.type_url)));
    }
    M::decode(any.value.as_slice()).map_err(|e| ConfigError::new(field, format!("cannot decode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::listener::v3::Listener as EnvoyListener;

    #[test]
    fn error_paths_read_outside_in() {
        let e = ConfigError::unsupported("use_original_dst").within("[0]").within("filter_chains");
        assert_eq!(e.field(), "filter_chains[0].use_original_dst");
        assert_eq!(e.to_string(), "filter_chains[0].use_original_dst: not supported by the Strait proxy");
    }

    #[test]
    fn leftover_fields_are_named_by_number() {
        assert!(no_other_fields(&EnvoyListener::default()).is_ok());
        let rest = EnvoyListener { stat_prefix: "x".into(), ..Default::default() };
        let e = no_other_fields(&rest).expect_err("stat_prefix left");
        assert!(e.to_string().contains("field number 28 of envoy.config.listener.v3.Listener"), "{e}");
    }
}
