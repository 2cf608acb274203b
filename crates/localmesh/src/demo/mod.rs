//! `strait demo`: needs nothing but the binary. Writes the demo manifests to a temporary
//! directory, starts the mesh on them, applies the scenario's Istio config (and waits until
//! every sidecar has acknowledged it), drives traffic to productpage, and shows per-service
//! numbers from the sidecars' access logs; with a duration it stops by itself and prints the
//! summary, otherwise on Ctrl-C.

pub mod access_log;
pub mod scenario;
pub mod stats;
pub mod traffic;

use crate::status;
use crate::supervisor::{self, DataPlane, Isolation, Mesh};
use scenario::Scenario;
use stats::{Directory, PodInfo, Stats};
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use traffic::{Counters, Tail};

/// Settings of `strait demo`.
#[derive(Clone, Debug)]
pub struct Options {
    /// The scenario.
    pub scenario: Scenario,
    /// Stop after this long (none: at Ctrl-C).
    pub duration: Option<Duration>,
    /// Sidecars' data plane.
    pub data_plane: DataPlane,
    /// Pod isolation.
    pub isolation: Isolation,
    /// Requests per second to productpage.
    pub rps: u32,
    /// Control plane addresses.
    pub xds_address: SocketAddr,
    /// Debug address.
    pub debug_address: SocketAddr,
    /// This executable.
    pub exe: PathBuf,
    /// Where manifests, logs and state go.
    pub dir: PathBuf,
    /// Keep `dir` afterwards (else it is removed after a successful run).
    pub keep: bool,
}

/// A fresh directory for one demo run: `$TMPDIR/strait-demo-PID`.
pub fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(format!("strait-demo-{}", std::process::id()))
}

/// What a finished demo saw.
pub struct Outcome {
    /// Services of the demo that got no traffic.
    pub silent: Vec<String>,
    /// Failures the scenario does not explain.
    pub unexpected: u64,
}

/// The services every scenario must show traffic to.
pub const SERVICES: [&str; 4] = ["productpage", "details", "reviews", "ratings"];

/// Runs the demo.
pub async fn run(o: Options) -> Result<Outcome, String> {
    let dir = o.dir.clone();
    let config = dir.join("config");
    std::fs::create_dir_all(&config).map_err(|e| format!("{}: {e}", config.display()))?;
    let _ = std::fs::remove_file(config.join("scenario.yaml"));
    for (name, text) in scenario::MANIFESTS {
        std::fs::write(config.join(name), text).map_err(|e| format!("{}: {e}", config.display()))?;
    }
    let opts = supervisor::Options {
        paths: vec![config.display().to_string()],
        namespace: "default".into(),
        state_dir: dir.join("state"),
        data_plane: o.data_plane,
        isolation: o.isolation,
        xds_address: o.xds_address,
        debug_address: o.debug_address,
        exe: o.exe.clone(),
    };
    let plan = supervisor::load(&opts).map_err(|e| e.join("\n"))?;
    say(&format!(
        "strait demo: starting {} pods with {} sidecars (state in {})",
        plan.pods.len(),
        o.data_plane.name(),
        dir.display()
    ));
    let started = Instant::now();
    let mesh = Mesh::start(opts, plan).await?;
    let result = run_mesh(&mesh, &o, &config, started).await;
    mesh.stop().await;
    if !o.keep && result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn say(line: &str) {
    println!("{line}");
    let _ = std::io::stdout().flush();
}

async fn run_mesh(mesh: &Mesh, o: &Options, config: &std::path::Path, started: Instant) -> Result<Outcome, String> {
    if let Err(e) = mesh.wait_ready(Duration::from_secs(90)).await {
        return Err(format!("{e}\n{}", sidecar_hint(mesh)));
    }
    let proxies: Vec<String> = mesh.shared.pods.iter().filter(|p| p.sidecar).map(|p| p.proxy_name()).collect();
    // The mesh's own address: under netns the control plane serves on the pods' network.
    let debug = mesh.opts.debug_address;
    status::wait_synced(debug, &proxies, None, Duration::from_secs(30)).await?;
    say(&format!(
        "mesh ready in {:.1}s; applying scenario {}: {}",
        started.elapsed().as_secs_f64(),
        o.scenario.name(),
        o.scenario.summary()
    ));
    let version = status::registry_version(debug).await.unwrap_or(0);
    let file = config.join("scenario.yaml");
    std::fs::write(&file, o.scenario.yaml()).map_err(|e| format!("{}: {e}", file.display()))?;
    status::wait_synced(debug, &proxies, Some(version), Duration::from_secs(30)).await?;
    say("scenario applied: every sidecar has acknowledged the new config");
    drive(mesh, o).await
}

/// The last lines of the first unready sidecar's log, for a mesh that did not come up.
fn sidecar_hint(mesh: &Mesh) -> String {
    let status = mesh.shared.snapshot();
    let Some(i) = mesh.shared.pods.iter().zip(&status).position(|(p, s)| p.sidecar && !s.sidecar_ready) else {
        return String::new();
    };
    let path = mesh.shared.log_path(i, supervisor::state::PROXY_CONTAINER);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    format!("{} (last lines):\n{}", path.display(), lines[lines.len().saturating_sub(8)..].join("\n"))
}

fn directory(mesh: &Mesh) -> Directory {
    mesh.shared
        .pods
        .iter()
        .map(|p| {
            let (app, version) = p.app_version();
            let info = PodInfo { name: p.name.clone(), app: app.into(), version: version.into(), sidecar: p.sidecar };
            (p.ip.to_string(), info)
        })
        .collect()
}

async fn drive(mesh: &Mesh, o: &Options) -> Result<Outcome, String> {
    let pods = directory(mesh);
    let mut tails: Vec<(PodInfo, Tail)> = mesh
        .shared
        .pods
        .iter()
        .enumerate()
        .filter(|(_, p)| p.sidecar)
        .map(|(i, p)| {
            (
                pods[&p.ip.to_string()].clone(),
                Tail::from_end(mesh.shared.log_path(i, supervisor::state::PROXY_CONTAINER)),
            )
        })
        .collect();
    let targets: Vec<String> = mesh
        .shared
        .pods
        .iter()
        .filter(|p| p.app_version().0 == "productpage")
        .map(|p| format!("{}:9080", p.ip))
        .collect();
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let driver = tokio::spawn(traffic::drive(targets, o.scenario, o.rps, counters.clone(), stop_rx));
    let mut stats = Stats::default();
    let expected = |e: &access_log::Entry| o.scenario.expected(e);
    let tty = std::io::stdout().is_terminal();
    let start = Instant::now();
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut last_print = Instant::now();
    loop {
        let deadline = o.duration.is_some_and(|d| start.elapsed() >= d);
        if deadline {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
        collect(&mut tails, &mut stats, &pods, &expected);
        let line = traffic::progress(
            start.elapsed(),
            o.duration,
            counters.sent.load(Ordering::Relaxed),
            counters.failed.load(Ordering::Relaxed),
        );
        if tty {
            let head = format!(
                "strait demo: scenario {} ({} sidecars): {}",
                o.scenario.name(),
                o.data_plane.name(),
                o.scenario.summary()
            );
            let lines: Vec<String> =
                [head, line, String::new()].into_iter().chain(stats.table(start.elapsed())).collect();
            print!("{}", status::redraw(&lines));
            let _ = std::io::stdout().flush();
        } else if last_print.elapsed() >= Duration::from_secs(5) {
            say(&line);
            last_print = Instant::now();
        }
    }
    let elapsed = start.elapsed();
    let _ = stop_tx.send(true);
    let _ = driver.await;
    // Sidecars flush access logs every 100 ms (Envoy every 200 ms): wait for the last lines.
    tokio::time::sleep(Duration::from_millis(600)).await;
    collect(&mut tails, &mut stats, &pods, &expected);
    Ok(summary(o, &stats, &counters, elapsed))
}

fn collect(
    tails: &mut [(PodInfo, Tail)],
    stats: &mut Stats,
    pods: &Directory,
    expected: &dyn Fn(&access_log::Entry) -> bool,
) {
    for (pod, tail) in tails.iter_mut() {
        for line in tail.lines() {
            if let Some(e) = access_log::parse(&line) {
                stats.record(pod, &line, &e, pods, expected);
            }
        }
    }
}

fn summary(o: &Options, stats: &Stats, counters: &Counters, elapsed: Duration) -> Outcome {
    let mut out = String::new();
    out.push_str(&format!(
        "\n=== strait demo summary: scenario {} ({} sidecars), {:.1}s ===\n{}\n\n",
        o.scenario.name(),
        o.data_plane.name(),
        elapsed.as_secs_f64(),
        o.scenario.summary()
    ));
    out.push_str(&format!(
        "client: {} requests to productpage, {} failed\n\n",
        counters.sent.load(Ordering::Relaxed),
        counters.failed.load(Ordering::Relaxed)
    ));
    for l in stats.table(elapsed) {
        out.push_str(&l);
        out.push('\n');
    }
    out.push_str("\nsample access-log lines (pod: line):\n");
    for (pod, line) in &stats.samples {
        out.push_str(&format!("  {pod}: {line}\n"));
    }
    let silent: Vec<String> = SERVICES
        .iter()
        .filter(|s| !stats.rows.iter().any(|((svc, _), r)| svc == *s && r.requests > 0))
        .map(|s| s.to_string())
        .collect();
    let unexpected = stats.unexpected();
    out.push_str(&format!(
        "\nservices without traffic: {}\nunexpected errors: {unexpected}\n",
        if silent.is_empty() { "none".to_string() } else { silent.join(", ") }
    ));
    say(&out);
    Outcome { silent, unexpected }
}
