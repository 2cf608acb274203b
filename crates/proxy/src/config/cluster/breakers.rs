//! Circuit-breaker thresholds, compiled: `circuit_breakers.thresholds` of the DEFAULT priority
//! → [`Limits`] (connections, pending requests, requests, retries). Unset thresholds take
//! Envoy's defaults (1024, 1024, 1024, 3); Istio sets every one of them, to `u32::MAX` unless a
//! DestinationRule's connection pool says otherwise. Retry budgets, per-host thresholds,
//! connection-pool limits and HIGH-priority thresholds (Istio never routes at HIGH priority)
//! are refused by name.

use crate::config::{ConfigError, Result, no_other_fields};
use envoy_types::pb::envoy::config::cluster::v3::CircuitBreakers;
use envoy_types::pb::envoy::config::cluster::v3::circuit_breakers::Thresholds;
use envoy_types::pb::envoy::config::core::v3::RoutingPriority;

/// A cluster's circuit-breaker limits (Envoy's DEFAULT priority).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Upstream connections, across hosts.
    pub connections: u32,
    /// Requests waiting for a connection.
    pub pending_requests: u32,
    /// Requests in flight.
    pub requests: u32,
    /// Retries in flight.
    pub retries: u32,
}

impl Default for Limits {
    /// Envoy's defaults when a cluster sets no thresholds.
    fn default() -> Self {
        Limits { connections: 1024, pending_requests: 1024, requests: 1024, retries: 3 }
    }
}

/// Compiles `circuit_breakers`.
pub fn compile(cb: Option<&CircuitBreakers>) -> Result<Limits> {
    let mut limits = Limits::default();
    let Some(cb) = cb else { return Ok(limits) };
    if !cb.per_host_thresholds.is_empty() {
        return Err(ConfigError::unsupported("per_host_thresholds"));
    }
    for (i, t) in cb.thresholds.iter().enumerate() {
        let at = |e: ConfigError| e.within(format!("[{i}]")).within("thresholds");
        if RoutingPriority::try_from(t.priority) != Ok(RoutingPriority::Default) {
            return Err(at(ConfigError::new("priority", "only DEFAULT priority thresholds are supported")));
        }
        limits = threshold(t).map_err(at)?;
    }
    no_other_fields(&CircuitBreakers { thresholds: Vec::new(), ..cb.clone() })?;
    Ok(limits)
}

fn threshold(t: &Thresholds) -> Result<Limits> {
    if t.retry_budget.is_some() {
        return Err(ConfigError::unsupported("retry_budget"));
    }
    if t.max_connection_pools.as_ref().is_some_and(|v| v.value != u32::MAX) {
        return Err(ConfigError::unsupported("max_connection_pools"));
    }
    let defaults = Limits::default();
    let or = |v: &Option<envoy_types::pb::google::protobuf::UInt32Value>, d: u32| v.as_ref().map_or(d, |v| v.value);
    // `track_remaining` only adds gauges; the counts below are kept either way.
    let rest = Thresholds {
        priority: 0,
        max_connections: None,
        max_pending_requests: None,
        max_requests: None,
        max_retries: None,
        max_connection_pools: None,
        track_remaining: false,
        ..*t
    };
    no_other_fields(&rest)?;
    Ok(Limits {
        connections: or(&t.max_connections, defaults.connections),
        pending_requests: or(&t.max_pending_requests, defaults.pending_requests),
        requests: or(&t.max_requests, defaults.requests),
        retries: or(&t.max_retries, defaults.retries),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::google::protobuf::UInt32Value;

    fn v(n: u32) -> Option<UInt32Value> {
        Some(UInt32Value { value: n })
    }

    #[test]
    fn thresholds_and_defaults() {
        assert_eq!(compile(None), Ok(Limits::default()));
        let cb = CircuitBreakers {
            thresholds: vec![Thresholds {
                max_connections: v(1),
                max_pending_requests: v(2),
                max_retries: v(u32::MAX),
                track_remaining: true,
                ..Default::default()
            }],
            ..Default::default()
        };
        let want = Limits { connections: 1, pending_requests: 2, requests: 1024, retries: u32::MAX };
        assert_eq!(compile(Some(&cb)), Ok(want));
    }

    #[test]
    fn what_is_not_implemented_is_named() {
        let high = CircuitBreakers {
            thresholds: vec![Thresholds { priority: RoutingPriority::High as i32, ..Default::default() }],
            ..Default::default()
        };
        let e = compile(Some(&high)).expect_err("HIGH priority");
        assert_eq!(e.to_string(), "thresholds[0].priority: only DEFAULT priority thresholds are supported");
        let budget = CircuitBreakers {
            thresholds: vec![Thresholds { retry_budget: Some(Default::default()), ..Default::default() }],
            ..Default::default()
        };
        let e = compile(Some(&budget)).expect_err("retry budget");
        assert_eq!(e.to_string(), "thresholds[0].retry_budget: not supported by the Strait proxy");
    }
}
