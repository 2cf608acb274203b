//! `strait proxy --data-plane strait`: runs the Strait proxy in this process, with the same
//! node identity, admin and readiness addresses the Envoy bootstrap would get, so the two data
//! planes are interchangeable behind the same flags. The Strait proxy speaks Delta ADS unless
//! `--sotw` is given (`--delta` is accepted and changes nothing).

use super::bootstrap;
use std::process::ExitCode;

/// Runs the Strait proxy until it is told to stop.
pub fn run(s: &bootstrap::Settings, sotw: bool) -> Result<ExitCode, String> {
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
    };
    strait_proxy::run(settings)?;
    Ok(ExitCode::SUCCESS)
}

/// An IPv6 literal in brackets for `host:port`.
fn host(h: &str) -> String {
    if h.contains(':') && !h.starts_with('[') { format!("[{h}]") } else { h.to_string() }
}
