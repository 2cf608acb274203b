//! `strait proxy --data-plane strait`: runs the Strait proxy in this process, with the same
//! node identity, admin and readiness addresses the Envoy bootstrap would get, so the two data
//! planes are interchangeable behind the same flags. The Strait proxy speaks Delta ADS unless
//! `--sotw` is given (`--delta` is accepted and changes nothing). On SIGTERM it drains for up to
//! ProxyConfig `terminationDrainDuration` (Istio's default, 5 s), which pilot-agent's
//! `TERMINATION_DRAIN_DURATION_SECONDS` environment variable overrides, as for Envoy.

use super::bootstrap;
use std::process::ExitCode;
use std::time::Duration;

/// Runs the Strait proxy until it is told to stop.
pub fn run(s: &bootstrap::Settings, sotw: bool, metrics_port: u16) -> Result<ExitCode, String> {
    let admin = format!("127.0.0.1:{}", s.admin_port).parse().map_err(|e| format!("admin address: {e}"))?;
    let health = format!("{}:{}", host(&s.health.0), s.health.1)
        .parse()
        .map_err(|e| format!("--ip {:?} with --health-port: {e}", s.health.0))?;
    let settings = strait_proxy::Settings {
        node_id: s.node_id.clone(),
        node_cluster: "strait".into(),
        metadata: s.metadata.clone(),
        labels: s.labels.clone(),
        xds_address: format!("{}:{}", host(&s.xds.0), s.xds.1),
        delta: !sotw,
        admin,
        health,
        // Prometheus on IP:--metrics-port (Istio's 15090); 0 turns it off.
        metrics: (metrics_port != 0).then(|| std::net::SocketAddr::new(health.ip(), metrics_port)),
        log: crate::cmd::log_control(),
        drain: termination_drain()?,
    };
    strait_proxy::run(settings)?;
    Ok(ExitCode::SUCCESS)
}

/// The drain duration: `TERMINATION_DRAIN_DURATION_SECONDS` (whole seconds, as pilot-agent
/// reads it), else ProxyConfig's default.
pub(super) fn termination_drain() -> Result<Duration, String> {
    match std::env::var("TERMINATION_DRAIN_DURATION_SECONDS") {
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("TERMINATION_DRAIN_DURATION_SECONDS={v:?} is not a whole number of seconds")),
        Err(_) => Ok(strait_model::mesh::ProxyConfig::defaults()
            .termination_drain_duration
            .map_or(Duration::from_secs(5), |d| d.0)),
    }
}

/// An IPv6 literal in brackets for `host:port`.
fn host(h: &str) -> String {
    if h.contains(':') && !h.starts_with('[') { format!("[{h}]") } else { h.to_string() }
}
