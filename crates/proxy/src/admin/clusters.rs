//! `/clusters` and `/listeners` in Envoy's formats. `/clusters` lists every cluster with its
//! hosts (from the EDS or inline assignment: weight, locality, EDS health as
//! `health_flags`) and the per-host request counters the completion records tell
//! (`rq_total`, `rq_success`, `rq_error`, `rq_timeout`, `cx_connect_fail`); with
//! `?format=json` it is Envoy's `ClusterStatuses` JSON, which `strait proxy-config endpoints`
//! and istioctl read. Connection-level host counters (`cx_active`, `cx_total`, …) and
//! circuit-breaker thresholds are not shown: the proxy does not track them per host.

use crate::config::Config;
use crate::metrics::Telemetry;
use crate::metrics::index::Endpoint;
use serde_json::{Value, json};
use std::fmt::Write as _;

/// Envoy's `eds_health_status` name for a `HealthStatus` number (unknown counts as healthy).
fn health_name(h: i32) -> &'static str {
    match h {
        2 => "UNHEALTHY",
        3 => "DRAINING",
        4 => "TIMEOUT",
        5 => "DEGRADED",
        _ => "HEALTHY",
    }
}

/// Envoy's `health_flags` text.
fn health_flags(h: i32) -> &'static str {
    match h {
        2 | 4 => "/failed_eds_health",
        3 => "/eds_status_draining",
        5 => "/degraded_eds_health",
        _ => "healthy",
    }
}

fn host_stats(t: &Telemetry, cluster: &str, e: &Endpoint) -> [(&'static str, u64); 5] {
    let s = t.envoy().cluster(cluster).host(e.address);
    [
        ("cx_connect_fail", s.cx_connect_fail),
        ("rq_error", s.rq_error),
        ("rq_success", s.rq_success),
        ("rq_timeout", s.rq_timeout),
        ("rq_total", s.rq_total),
    ]
}

/// `/clusters` as text.
pub fn text(t: &Telemetry) -> String {
    let index = t.index();
    let mut out = String::new();
    for name in index.cluster_names() {
        let Some(info) = index.cluster(name) else { continue };
        let _ = writeln!(out, "{name}::observability_name::{}", info.observability_name);
        let _ = writeln!(out, "{name}::added_via_api::true");
        if let Some(eds) = &info.eds {
            let _ = writeln!(out, "{name}::eds_service_name::{eds}");
        }
        for e in index.endpoints(info).iter() {
            let a = e.address;
            for (stat, v) in host_stats(t, name, e) {
                let _ = writeln!(out, "{name}::{a}::{stat}::{v}");
            }
            let [region, zone, sub_zone] = &e.locality;
            let _ = writeln!(out, "{name}::{a}::hostname::");
            let _ = writeln!(out, "{name}::{a}::health_flags::{}", health_flags(e.health));
            let _ = writeln!(out, "{name}::{a}::weight::{}", e.weight);
            let _ = writeln!(out, "{name}::{a}::region::{region}");
            let _ = writeln!(out, "{name}::{a}::zone::{zone}");
            let _ = writeln!(out, "{name}::{a}::sub_zone::{sub_zone}");
            let _ = writeln!(out, "{name}::{a}::canary::false");
            let _ = writeln!(out, "{name}::{a}::priority::0");
            let _ = writeln!(out, "{name}::{a}::success_rate::-1");
            let _ = writeln!(out, "{name}::{a}::local_origin_success_rate::-1");
        }
    }
    out
}

fn locality(l: &[String; 3]) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in ["region", "zone", "sub_zone"].iter().zip(l) {
        if !v.is_empty() {
            m.insert((*k).into(), json!(v));
        }
    }
    Value::Object(m)
}

/// `/clusters?format=json`: Envoy's `ClusterStatuses` (counters as strings, zeros omitted,
/// as proto3 JSON prints them).
pub fn json(t: &Telemetry) -> Value {
    let index = t.index();
    let mut statuses = Vec::new();
    for name in index.cluster_names() {
        let Some(info) = index.cluster(name) else { continue };
        let hosts: Vec<Value> = index
            .endpoints(info)
            .iter()
            .map(|e| {
                let stats: Vec<Value> = host_stats(t, name, e)
                    .iter()
                    .map(|(s, v)| if *v == 0 { json!({"name": s}) } else { json!({"name": s, "value": v.to_string()}) })
                    .collect();
                json!({
                    "address": {"socket_address": {"address": e.address.ip().to_string(), "port_value": e.address.port()}},
                    "stats": stats,
                    "health_status": {"eds_health_status": health_name(e.health)},
                    "weight": e.weight,
                    "locality": locality(&e.locality),
                })
            })
            .collect();
        statuses.push(json!({
            "name": name,
            "added_via_api": true,
            "host_statuses": hosts,
            "observability_name": info.observability_name,
        }));
    }
    json!({"cluster_statuses": statuses})
}

/// `/listeners` as text (`NAME::IP:PORT`).
pub fn listeners_text(config: &Config) -> String {
    config.listeners.values().map(|l| format!("{}::{}\n", l.name, l.address)).collect()
}

/// `/listeners?format=json`.
pub fn listeners_json(config: &Config) -> Value {
    let statuses: Vec<Value> = config
        .listeners
        .values()
        .map(|l| {
            json!({
                "name": l.name,
                "local_address": {"socket_address": {"address": l.address.ip().to_string(), "port_value": l.address.port()}},
            })
        })
        .collect();
    json!({"listener_statuses": statuses})
}
