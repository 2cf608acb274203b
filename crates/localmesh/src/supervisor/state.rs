//! What a running mesh shares: each pod's plan and live status (behind one lock, with a version
//! counter that wakes whoever waits for a change), and the files in the state directory:
//! `registry/pods.json` (the Pod objects the control plane watches) and `mesh.json` (pods,
//! addresses, readiness and log files, read by `strait logs`, the tests and the demo).

use crate::plan::{PodPlan, object};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use strait_testkit::netns::Netns;
use tokio::sync::watch;

/// The sidecar container's name, as Istio injects it.
pub const PROXY_CONTAINER: &str = "istio-proxy";

/// A pod's lifecycle phase, in the words `kubectl get pods` uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Not started yet.
    #[default]
    Pending,
    /// Waiting for the sidecar before starting the app (holdApplicationUntilProxyStarts).
    PodInitializing,
    /// Processes running.
    Running,
    /// A process exited and waits for its restart.
    CrashLoopBackOff,
    /// Stopping.
    Terminating,
}

/// A pod's live status.
#[derive(Clone, Debug, Default)]
pub struct PodStatus {
    /// Phase.
    pub phase: Phase,
    /// Sidecar ready (`/healthz/ready`).
    pub sidecar_ready: bool,
    /// Each container's readiness.
    pub containers_ready: Vec<bool>,
    /// Restarts of any process of the pod.
    pub restarts: u32,
    /// The sidecar's admin port on 127.0.0.1 (0 without a sidecar).
    pub admin_port: u16,
    /// The last failure (a process that could not start or exited).
    pub last_error: Option<String>,
    /// Each container's process id while it runs (0 otherwise); `strait analyze --mesh` reads
    /// the sockets they listen on.
    pub app_pids: Vec<u32>,
}

impl PodStatus {
    /// Ready as Kubernetes means it: every container, the sidecar included.
    pub fn ready(&self, pod: &PodPlan) -> bool {
        (!pod.sidecar || self.sidecar_ready)
            && self.containers_ready.len() == pod.containers.len()
            && self.containers_ready.iter().all(|r| *r)
    }
}

/// The pods and their status, shared by the supervisor's tasks.
pub struct Shared {
    /// The plan, fixed for the mesh's life.
    pub pods: Vec<PodPlan>,
    status: Mutex<Vec<PodStatus>>,
    version: watch::Sender<u64>,
    /// The state directory.
    pub dir: PathBuf,
    /// Each pod's network namespace (`--isolation netns`; empty otherwise).
    pub namespaces: Vec<Option<Arc<Netns>>>,
}

impl Shared {
    /// Shared state for `pods`, all pending.
    pub fn new(pods: Vec<PodPlan>, dir: PathBuf, namespaces: Vec<Option<Arc<Netns>>>) -> Self {
        let status = pods.iter().map(|p| PodStatus {
            containers_ready: vec![false; p.containers.len()],
            app_pids: vec![0; p.containers.len()],
            ..Default::default()
        });
        Self { status: Mutex::new(status.collect()), pods, version: watch::channel(0).0, dir, namespaces }
    }

    /// Pod `i`'s network namespace, if it has one.
    pub fn netns(&self, i: usize) -> Option<Arc<Netns>> {
        self.namespaces.get(i).cloned().flatten()
    }

    /// Changes pod `i`'s status and wakes the waiters.
    pub fn update(&self, i: usize, f: impl FnOnce(&mut PodStatus)) {
        if let Some(s) = self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_mut(i) {
            f(s);
        }
        self.version.send_modify(|v| *v += 1);
    }

    /// A copy of every pod's status.
    pub fn snapshot(&self) -> Vec<PodStatus> {
        self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// A receiver that changes whenever any status does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Waits until `cond` holds on the snapshot.
    pub async fn wait_for(&self, mut cond: impl FnMut(&[PodStatus]) -> bool) {
        let mut rx = self.subscribe();
        loop {
            if cond(&self.snapshot()) {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Where container `container` of pod `i` logs.
    pub fn log_path(&self, i: usize, container: &str) -> PathBuf {
        log_path(&self.dir, &self.pods[i].name, container)
    }
}

/// `DIR/pods/POD/CONTAINER.log`.
pub fn log_path(dir: &Path, pod: &str, container: &str) -> PathBuf {
    dir.join("pods").join(pod).join(format!("{container}.log"))
}

/// `mesh.json`: what other commands need to find the mesh's pods and logs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshFile {
    /// The `strait up` process while it runs (0 once stopped).
    pub pid: u32,
    /// The control plane's ADS address.
    pub xds_address: String,
    /// The control plane's debug address (`strait proxy-status --control-plane`).
    pub debug_address: String,
    /// `strait` or `envoy`.
    pub data_plane: String,
    /// The config files and directories the mesh runs (absolute), for `strait analyze --mesh`.
    #[serde(default)]
    pub config: Vec<String>,
    /// The namespace of documents without one (`strait up -n`).
    #[serde(default)]
    pub namespace: String,
    /// Every pod.
    pub pods: Vec<PodEntry>,
}

/// One pod in `mesh.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodEntry {
    /// Pod name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// The Deployment.
    pub deployment: String,
    /// `app` and `version` labels.
    pub app: String,
    /// Version label.
    pub version: String,
    /// Every label of the pod (the Services that select it).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Pod IP (the sidecar's).
    pub ip: String,
    /// Where the app binds.
    pub app_ip: String,
    /// Whether a sidecar runs.
    pub sidecar: bool,
    /// Sidecar admin port (127.0.0.1).
    pub admin_port: u16,
    /// Container names (the sidecar is `istio-proxy`).
    pub containers: Vec<String>,
    /// Ready now.
    pub ready: bool,
    /// Phase now.
    pub phase: Phase,
    /// Restarts so far.
    pub restarts: u32,
    /// The pod's network namespace (`--isolation netns`), empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub netns: String,
    /// Each app container's process id while it runs (0 otherwise); each leads its own
    /// process group.
    #[serde(default)]
    pub app_pids: Vec<u32>,
}

impl MeshFile {
    /// Reads `DIR/mesh.json`.
    pub fn read(dir: &Path) -> Result<MeshFile, String> {
        let path = dir.join("mesh.json");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e} (is a mesh running?)", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// `mesh.json` for the current state.
pub fn mesh_file(shared: &Shared, head: &MeshFile) -> MeshFile {
    let status = shared.snapshot();
    let pods = shared
        .pods
        .iter()
        .zip(&status)
        .enumerate()
        .map(|(i, (p, s))| {
            let (app, version) = p.app_version();
            let mut containers: Vec<String> = p.containers.iter().map(|c| c.name.clone()).collect();
            if p.sidecar {
                containers.push(PROXY_CONTAINER.into());
            }
            PodEntry {
                name: p.name.clone(),
                namespace: p.namespace.clone(),
                deployment: p.deployment.clone(),
                app: app.into(),
                version: version.into(),
                labels: p.labels.clone(),
                ip: p.ip.to_string(),
                app_ip: p.app_ip.to_string(),
                sidecar: p.sidecar,
                admin_port: s.admin_port,
                containers,
                ready: s.ready(p),
                phase: s.phase,
                restarts: s.restarts,
                netns: shared.netns(i).map(|n| n.name().to_string()).unwrap_or_default(),
                app_pids: s.app_pids.clone(),
            }
        })
        .collect();
    MeshFile { pods, ..head.clone() }
}

/// Writes `text` to `path` atomically (a temporary file the config loader ignores, then a
/// rename), so the control plane never reads half a file.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Rewrites `registry/pods.json` and `mesh.json` whenever readiness or phase changes.
pub async fn write_files(shared: std::sync::Arc<Shared>, head: MeshFile) {
    let mut rx = shared.subscribe();
    let mut last_ready: Option<Vec<bool>> = None;
    let mut last_mesh = String::new();
    loop {
        let status = shared.snapshot();
        let ready: Vec<bool> = shared.pods.iter().zip(&status).map(|(p, s)| s.ready(p)).collect();
        if last_ready.as_ref() != Some(&ready) {
            let text = object::list(shared.pods.iter().zip(ready.iter().copied()));
            if let Err(e) = write_atomic(&shared.dir.join("registry/pods.json"), &text) {
                tracing::warn!(error = %e, "cannot update the pods the control plane reads");
            }
            last_ready = Some(ready);
        }
        let mesh = serde_json::to_string_pretty(&mesh_file(&shared, &head)).unwrap_or_default();
        if mesh != last_mesh {
            let _ = write_atomic(&shared.dir.join("mesh.json"), &mesh);
            last_mesh = mesh;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
