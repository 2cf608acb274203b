//! `/stats` (Envoy's `name: value` lines, `?format=json`, `?filter=REGEX`) and
//! `/stats/prometheus` (Istio's metrics, then Envoy's counters with Envoy's Prometheus
//! names). Server-wide gauges come from the proxy state: `server.live`, `server.state`
//! (0 LIVE, 2 PRE_INITIALIZING, as Envoy numbers them), `server.uptime`,
//! `cluster_manager.active_clusters`, `listener_manager.total_listeners_active`.

use super::Admin;
use crate::metrics::envoy::Stat;
use serde_json::{Value, json};

fn gauge(scope: &'static str, stat: &str, value: u64) -> Stat {
    Stat { scope, name: String::new(), stat: stat.into(), value }
}

/// The server-wide gauges.
pub fn server(admin: &Admin) -> Vec<Stat> {
    let ready = admin.state.is_ready();
    let config = admin.state.shared.config.load();
    vec![
        gauge("cluster_manager", "active_clusters", config.clusters.len() as u64),
        gauge("listener_manager", "total_listeners_active", config.listeners.len() as u64),
        gauge("server", "live", u64::from(ready)),
        gauge("server", "state", if ready { 0 } else { 2 }),
        gauge("server", "uptime", admin.started.elapsed().as_secs()),
    ]
}

/// Every stat, sorted by name, kept by `filter` (a regex on the flat name).
pub fn all(admin: &Admin, filter: Option<&str>) -> Result<Vec<Stat>, String> {
    let filter = filter.map(regex::Regex::new).transpose().map_err(|e| format!("Invalid regex: {e}"))?;
    let mut stats = admin.state.shared.access_log.telemetry().envoy_stats();
    stats.extend(server(admin));
    stats.retain(|s| filter.as_ref().is_none_or(|f| f.is_match(&s.flat())));
    stats.sort_by_cached_key(Stat::flat);
    Ok(stats)
}

/// Envoy's text form.
pub fn text(stats: &[Stat]) -> String {
    stats.iter().map(|s| format!("{}: {}\n", s.flat(), s.value)).collect()
}

/// Envoy's JSON form.
pub fn json(stats: &[Stat]) -> Value {
    let list: Vec<Value> = stats.iter().map(|s| json!({"name": s.flat(), "value": s.value})).collect();
    json!({"stats": list})
}

/// `/stats/prometheus`.
pub fn prometheus(admin: &Admin) -> String {
    admin.state.shared.access_log.telemetry().prometheus(&server(admin))
}
