//! The Strait proxy: a data plane that replaces Envoy for Strait's control plane. It consumes
//! the same xDS (Delta ADS, SotW as a fallback), converts each resource once into compiled
//! config, swaps that config atomically, and serves HTTP and TCP traffic with it.
//!
//! Shape (after linkerd2-proxy, ztunnel, pingora): [`xds`] (the ADS client) feeds
//! [`state`] (resource store, atomic config swap, readiness), which compiles resources with
//! [`config`] and binds [`listeners`]; connections go to [`http`] (hyper server, routing with
//! [`route`], forwarding with retries and timeouts through per-cluster pools) or [`tcp`];
//! hosts are picked by [`lb`] through [`upstream`]; failures are classified by [`failure`];
//! every request ends in one [`access_log`] record, which also feeds the [`metrics`];
//! [`admin`] serves readiness, Prometheus metrics and the admin API. The runtime has
//! `STRAIT_PROXY_WORKERS` worker threads (default 1, like Envoy's `--concurrency 1` in
//! `strait proxy`).

pub mod access_log;
pub mod admin;
pub mod config;
pub mod failure;
pub mod format;
pub mod http;
pub mod lb;
pub mod listeners;
pub mod metrics;
pub mod rng;
pub mod route;
pub mod state;
pub mod tcp;
pub mod tls;
pub mod upstream;
pub mod xds;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// How to run the proxy.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Node id (`sidecar~IP~POD.NS~NS.svc.cluster.local`).
    pub node_id: String,
    /// Node cluster.
    pub node_cluster: String,
    /// Node metadata (strings).
    pub metadata: BTreeMap<String, String>,
    /// Workload labels (node metadata `LABELS`).
    pub labels: BTreeMap<String, String>,
    /// ADS server `host:port`.
    pub xds_address: String,
    /// Delta ADS (default) or SotW.
    pub delta: bool,
    /// Admin address (127.0.0.1:PORT).
    pub admin: SocketAddr,
    /// Readiness address (IP:PORT).
    pub health: SocketAddr,
    /// How long SIGTERM waits for connections to finish (ProxyConfig `terminationDrainDuration`).
    pub drain: std::time::Duration,
    /// Prometheus address (IP:15090), if any.
    pub metrics: Option<SocketAddr>,
    /// The log filter and how to change it at run time (admin `/logging`).
    pub log: admin::logging::LogControl,
}

/// Runs the proxy until `/quitquitquit`, or SIGINT or SIGTERM and the drain that follows.
pub fn run(settings: Settings) -> Result<(), String> {
    let workers = std::env::var("STRAIT_PROXY_WORKERS").ok().and_then(|w| w.parse().ok()).unwrap_or(1usize).max(1);
    runtime(workers).map_err(|e| e.to_string())?.block_on(serve(settings))
}

/// One worker: a current-thread runtime on the calling thread (no work-stealing queues, no
/// cross-thread wake-ups: bench/proxy measured it cheaper per request than a one-worker
/// multi-thread runtime); more: a multi-thread runtime with that many workers.
fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if workers == 1 {
        return tokio::runtime::Builder::new_current_thread().enable_all().build();
    }
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).thread_name("strait-proxy").enable_all().build()
}

async fn serve(settings: Settings) -> Result<(), String> {
    let telemetry = metrics::Telemetry::new(metrics::labels::Local::from_node(&settings.metadata, &settings.labels));
    let state = Arc::new(state::State::new(access_log::Sink::new(Arc::new(telemetry))));
    let quit = Arc::new(tokio::sync::Notify::new());
    let admin = Arc::new(admin::Admin {
        state: state.clone(),
        quit: quit.clone(),
        node_id: settings.node_id.clone(),
        started: Instant::now(),
        logging: admin::logging::Logging::new(&settings.log.base, settings.log.reload.clone()),
    });
    admin::serve(settings.admin, admin.clone()).await.map_err(|e| format!("admin {}: {e}", settings.admin))?;
    if let Some(at) = settings.metrics {
        admin::serve_metrics(at, admin).await.map_err(|e| format!("metrics {at}: {e}"))?;
    }
    admin::serve_health(settings.health, state.clone())
        .await
        .map_err(|e| format!("health {}: {e}", settings.health))?;
    let node = xds::node::node(&settings.node_id, &settings.node_cluster, &settings.metadata, &settings.labels);
    let xds = xds::Settings { address: settings.xds_address.clone(), node, delta: settings.delta };
    tokio::spawn(xds::run(xds, state.clone()));
    tracing::info!(node = %settings.node_id, xds = %settings.xds_address, delta = settings.delta, "strait proxy started");
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = quit.notified() => {
            tracing::info!("quit requested through the admin API");
            return Ok(());
        }
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: draining"),
        _ = term.recv() => tracing::info!("terminated: draining"),
    }
    // Graceful drain (pilot-agent's job for Envoy); a second signal or a quit cuts it short.
    tokio::select! {
        () = listeners::drain::finish(&state.shared.drain, settings.drain) => {}
        _ = quit.notified() => tracing::info!("quit requested through the admin API"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted again: not waiting"),
        _ = term.recv() => tracing::info!("terminated again: not waiting"),
    }
    Ok(())
}
