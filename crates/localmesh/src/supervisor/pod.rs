//! One pod's processes, as the kubelet runs them: the sidecar first; the app's containers once
//! the sidecar is ready (holdApplicationUntilProxyStarts), each restarted with exponential
//! back-off when it exits (restartPolicy Always: 1 s doubling to 30 s, reset after 60 s of
//! running), each probed for readiness while it runs. Stopping is two-staged by the caller:
//! apps first, sidecars once the apps are gone, so in-flight outbound calls can finish.

use super::probe::{self, Tracker};
use super::process;
use super::state::{Phase, Shared};
use crate::plan::{ContainerPlan, HEALTH_PORT};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Which process of the pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// The sidecar.
    Sidecar,
    /// Container `i` of the plan.
    Container(usize),
}

/// How long a stopping process gets before SIGKILL.
const GRACE: Duration = Duration::from_secs(10);
/// First restart delay and its cap.
const BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));

/// A process to keep running: argv, environment, working dir.
pub struct Run {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Environment.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub dir: Option<String>,
    /// Network namespace to run in.
    pub netns: Option<String>,
    /// Group to run as.
    pub gid: Option<u32>,
}

/// Keeps the sidecar of pod `i` running until `stop`.
pub async fn sidecar(shared: Arc<Shared>, i: usize, run: Run, stop: watch::Receiver<bool>) {
    keep_running(shared, i, Which::Sidecar, run, stop).await;
}

/// Keeps container `c` of pod `i` running until `stop`, starting it once the sidecar is ready
/// when the pod holds its app until the proxy starts.
pub async fn container(shared: Arc<Shared>, i: usize, c: usize, run: Run, mut stop: watch::Receiver<bool>) {
    let pod = &shared.pods[i];
    if pod.sidecar && pod.hold_until_proxy_starts {
        shared.update(i, |s| s.phase = Phase::PodInitializing);
        tokio::select! {
            () = shared.wait_for(|s| s[i].sidecar_ready) => {}
            () = stopped(&mut stop) => return,
        }
    }
    keep_running(shared, i, Which::Container(c), run, stop).await;
}

async fn keep_running(shared: Arc<Shared>, i: usize, which: Which, run: Run, mut stop: watch::Receiver<bool>) {
    let name = match which {
        Which::Sidecar => super::state::PROXY_CONTAINER.to_string(),
        Which::Container(c) => shared.pods[i].containers[c].name.clone(),
    };
    let log = shared.log_path(i, &name);
    let mut backoff = BACKOFF.0;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let spec = process::Spec {
            argv: &run.argv,
            env: &run.env,
            dir: run.dir.as_deref(),
            log: &log,
            netns: run.netns.as_deref(),
            gid: run.gid,
        };
        let error = match process::spawn(&spec) {
            Err(e) => e,
            Ok(mut child) => {
                let pid = child.id().unwrap_or(0);
                shared.update(i, |s| {
                    if which != Which::Sidecar || s.phase == Phase::Pending {
                        s.phase = Phase::Running;
                    }
                    set_pid(s, which, pid);
                });
                let status = tokio::select! {
                    status = child.wait() => status,
                    never = readiness(&shared, i, which) => match never {},
                    () = stopped(&mut stop) => {
                        shared.update(i, |s| s.phase = Phase::Terminating);
                        process::stop(&mut child, GRACE).await;
                        shared.update(i, |s| set_pid(s, which, 0));
                        set_ready(&shared, i, which, false);
                        return;
                    }
                };
                match status {
                    Ok(s) => format!("{name} exited ({s})"),
                    Err(e) => format!("{name}: {e}"),
                }
            }
        };
        tracing::warn!(pod = %shared.pods[i].name, error = %error, "restarting in {backoff:?}");
        shared.update(i, |s| {
            set_pid(s, which, 0);
            s.phase = Phase::CrashLoopBackOff;
            s.restarts += 1;
            s.last_error = Some(error);
        });
        set_ready(&shared, i, which, false);
        if started.elapsed() > Duration::from_secs(60) {
            backoff = BACKOFF.0;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stopped(&mut stop) => return,
        }
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

/// Resolves once `stop` says true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Records container `which`'s process id (0: not running); the sidecar's is not recorded.
fn set_pid(s: &mut super::state::PodStatus, which: Which, pid: u32) {
    if let Which::Container(c) = which
        && let Some(slot) = s.app_pids.get_mut(c)
    {
        *slot = pid;
    }
}

fn set_ready(shared: &Shared, i: usize, which: Which, ready: bool) {
    shared.update(i, |s| match which {
        Which::Sidecar => s.sidecar_ready = ready,
        Which::Container(c) => {
            if let Some(r) = s.containers_ready.get_mut(c) {
                *r = ready;
            }
        }
    });
}

/// Probes the process while it runs, forever: the sidecar's `/healthz/ready`, a container's
/// readiness probe, or (no probe) ready at once.
async fn readiness(shared: &Shared, i: usize, which: Which) -> Infallible {
    let pod = &shared.pods[i];
    match which {
        Which::Sidecar => {
            let ip = pod.ip.to_string();
            let mut ready = false;
            loop {
                let ok = probe::http_ok(&ip, HEALTH_PORT, "/healthz/ready").await;
                if ok != ready {
                    ready = ok;
                    set_ready(shared, i, which, ok);
                }
                // Fast until ready (the app waits for it), then at the usual probe period.
                let period = if ready { Duration::from_secs(2) } else { Duration::from_millis(100) };
                tokio::time::sleep(period).await;
            }
        }
        Which::Container(c) => container_readiness(shared, i, c, &pod.containers[c]).await,
    }
}

async fn container_readiness(shared: &Shared, i: usize, c: usize, plan: &ContainerPlan) -> Infallible {
    let Some(p) = &plan.readiness else {
        set_ready(shared, i, Which::Container(c), true);
        return std::future::pending().await;
    };
    tokio::time::sleep(p.initial_delay).await;
    let mut tracker = Tracker::default();
    loop {
        let ok = probe::check_in(shared.netns(i), &p.action, p.timeout, &plan.env).await;
        if tracker.record(p, ok) {
            set_ready(shared, i, Which::Container(c), tracker.ready);
        }
        // Until the first success, probe every 200 ms so a demo pod is ready as soon as it
        // listens; the manifest's period applies from then on.
        let period =
            if tracker.ready || p.period < Duration::from_millis(200) { p.period } else { Duration::from_millis(200) };
        tokio::time::sleep(period).await;
    }
}
