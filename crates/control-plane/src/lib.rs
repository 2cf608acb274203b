//! Strait's control plane, as istiod in file mode: load config from files, build the registry,
//! publish it to the ADS server, watch the files and publish again (debounced) on change, and
//! serve debug endpoints. Threads: one tokio multi-thread runtime runs the gRPC server, the
//! debug HTTP server and the file watcher.

pub mod debug;
pub mod source;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use strait_xds_server::{Ads, Published};
use tokio::sync::watch;

/// Control-plane settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Config files and directories.
    pub paths: Vec<String>,
    /// Namespace for documents without one.
    pub default_namespace: String,
    /// ADS listen address (Istio's plaintext xDS port is 15010).
    pub xds_address: SocketAddr,
    /// Debug/metrics HTTP address (15014 in Istio).
    pub debug_address: SocketAddr,
    /// Quiet period after a file change before pushing.
    pub debounce: Duration,
    /// How often files are checked for changes.
    pub poll: Duration,
}

/// Runs until the process is stopped.
pub async fn run(opts: Options) -> Result<(), String> {
    let mut source = source::FileSource::new(opts.paths.clone(), opts.default_namespace.clone());
    let first = source.load();
    let (tx, rx) = watch::channel(Arc::new(first));
    let ads = Ads::new(rx.clone());
    let shared = ads.shared();
    let grpc = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .add_service(ads.into_service())
        .serve(opts.xds_address);
    let debug = debug::serve(opts.debug_address, shared, rx, source.state());
    let watcher = watch_files(source, tx, opts.debounce, opts.poll);
    tracing::info!(xds = %opts.xds_address, debug = %opts.debug_address, "control plane serving");
    tokio::select! {
        r = grpc => r.map_err(|e| format!("xDS server on {}: {e}", opts.xds_address)),
        r = debug => r,
        () = watcher => Ok(()),
    }
}

/// Polls the files; after a change and `debounce` of quiet, reloads and publishes.
async fn watch_files(
    mut source: source::FileSource,
    tx: watch::Sender<Arc<Published>>,
    debounce: Duration,
    poll: Duration,
) {
    loop {
        tokio::time::sleep(poll).await;
        if !source.changed() {
            continue;
        }
        // Debounce: wait until two scans `debounce` apart agree (editors write in bursts).
        let seen = std::time::Instant::now();
        let mut last = source.scan();
        loop {
            tokio::time::sleep(debounce).await;
            let now = source.scan();
            if now == last {
                break;
            }
            last = now;
        }
        let mut published = source.load();
        published.changed_at = seen;
        tracing::info!(version = published.version, "config changed; pushing");
        if tx.send(Arc::new(published)).is_err() {
            return;
        }
    }
}
