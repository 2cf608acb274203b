//! Runs a planned mesh: the control plane embedded in this process (reading the user's config
//! plus `STATE/registry/pods.json`, the Pod objects the supervisor keeps up to date), and for
//! each pod a sidecar (`strait proxy`, a child process of this executable) and the app's
//! processes, on loopback addresses or, with `--isolation netns`, in network namespaces with
//! iptables capture ([`network`]). Threads: one multi-thread tokio runtime (the caller's) runs
//! the control plane, one task per process and the file writer. Children are spawned only
//! from runtime worker threads, which live as long as the mesh (their parent-death signal is
//! per thread).

pub mod network;
pub mod pod;
pub mod probe;
pub mod process;
pub mod state;

use crate::plan::{self, HEALTH_PORT, METRICS_PORT, OUTBOUND_PORT, PodPlan};
use state::{MeshFile, Shared};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The sidecars' data plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataPlane {
    /// The Strait proxy.
    Strait,
    /// Real Envoy (through `strait proxy --data-plane envoy`).
    Envoy,
}

impl DataPlane {
    /// The `--data-plane` value.
    pub fn name(self) -> &'static str {
        match self {
            DataPlane::Strait => "strait",
            DataPlane::Envoy => "envoy",
        }
    }
}

/// How pods are separated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Loopback addresses, apps use the sidecar as an explicit proxy (no privileges).
    None,
    /// A network namespace per pod with iptables capture (root, Linux).
    Netns,
}

/// Settings of a mesh run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Config files and directories (manifests and Istio config).
    pub paths: Vec<String>,
    /// Namespace for documents without one.
    pub namespace: String,
    /// Where logs, `mesh.json` and the Pod objects go.
    pub state_dir: PathBuf,
    /// The sidecars' data plane.
    pub data_plane: DataPlane,
    /// Pod isolation.
    pub isolation: Isolation,
    /// The control plane's ADS address.
    pub xds_address: SocketAddr,
    /// The control plane's debug address.
    pub debug_address: SocketAddr,
    /// This executable (sidecars and `command: [strait, …]` run it).
    pub exe: PathBuf,
}

/// A running mesh.
pub struct Mesh {
    /// Pods and their status.
    pub shared: Arc<Shared>,
    /// The options it runs with.
    pub opts: Options,
    stop_apps: watch::Sender<bool>,
    stop_sidecars: watch::Sender<bool>,
    apps: Vec<JoinHandle<()>>,
    sidecars: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    control_plane: JoinHandle<Result<(), String>>,
    head: MeshFile,
    network: Option<network::Network>,
}

/// Loads and plans `opts.paths`; `Err` carries every error found.
pub fn load(opts: &Options) -> Result<plan::Plan, Vec<String>> {
    let load = strait_config::LoadOptions { default_namespace: opts.namespace.clone() };
    let report = strait_config::load_paths(&opts.paths, &load);
    if report.errors() > 0 {
        return Err(report
            .findings
            .iter()
            .filter(|f| f.severity == strait_model::Severity::Error)
            .map(ToString::to_string)
            .collect());
    }
    let resources: Vec<strait_model::Resource> = report.resources.into_iter().map(|l| l.resource).collect();
    let network = match opts.isolation {
        Isolation::None => plan::Network::Loopback,
        Isolation::Netns => plan::Network::Netns,
    };
    plan::plan(&resources, network)
}

impl Mesh {
    /// Starts the control plane and every pod of `plan`; returns once they are launched (not
    /// yet ready: see [`Mesh::wait_ready`]).
    pub async fn start(mut opts: Options, plan: plan::Plan) -> Result<Mesh, String> {
        let dir = opts.state_dir.clone();
        prepare_state_dir(&dir, &plan.pods)?;
        let network = match opts.isolation {
            Isolation::None => None,
            Isolation::Netns => {
                // Sidecars reach the control plane at the host's address on the pods' network.
                let host = plan::Network::Netns.node_ip();
                opts.xds_address.set_ip(host.into());
                opts.debug_address.set_ip(host.into());
                Some(network::setup(&plan)?)
            }
        };
        let namespaces = network.as_ref().map(|n| n.pods.clone()).unwrap_or_default();
        let shared = Arc::new(Shared::new(plan.pods, dir.clone(), namespaces));
        std::fs::write(dir.join("registry/pods.json"), plan::object::list(shared.pods.iter().map(|p| (p, false))))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let control_plane = start_control_plane(&opts, &dir).await?;
        let head = MeshFile {
            pid: std::process::id(),
            xds_address: opts.xds_address.to_string(),
            debug_address: opts.debug_address.to_string(),
            data_plane: opts.data_plane.name().into(),
            config: opts.paths.iter().map(|p| absolute(p)).collect(),
            namespace: opts.namespace.clone(),
            pods: Vec::new(),
        };
        let background = vec![tokio::spawn(state::write_files(shared.clone(), head.clone()))];
        let (stop_apps, _) = watch::channel(false);
        let (stop_sidecars, _) = watch::channel(false);
        let mut mesh = Mesh {
            shared,
            opts,
            stop_apps,
            stop_sidecars,
            apps: vec![],
            sidecars: vec![],
            background,
            control_plane,
            head,
            network,
        };
        mesh.launch_pods();
        Ok(mesh)
    }

    fn launch_pods(&mut self) {
        let captured = self.opts.isolation == Isolation::Netns;
        for (i, p) in self.shared.pods.iter().enumerate() {
            let netns = self.shared.netns(i).map(|n| n.name().to_string());
            if p.sidecar {
                // In its own namespace the sidecar has Envoy's usual admin port to itself.
                let admin = if captured { 15000 } else { free_port() };
                self.shared.update(i, |s| s.admin_port = admin);
                let run = pod::Run {
                    argv: sidecar_argv(&self.opts, p, admin, &self.shared.dir),
                    env: sidecar_env(),
                    dir: None,
                    netns: netns.clone(),
                    // The capture rules let the proxy's own traffic (gid 1337) through.
                    gid: captured.then_some(PROXY_GID),
                };
                let rx = self.stop_sidecars.subscribe();
                self.sidecars.push(tokio::spawn(pod::sidecar(self.shared.clone(), i, run, rx)));
            }
            for (c, container) in p.containers.iter().enumerate() {
                let mut argv = container.argv.clone();
                if argv.first().is_some_and(|a| a == "strait") {
                    argv[0] = self.opts.exe.display().to_string();
                }
                let env = container.env.clone();
                let run = pod::Run { argv, env, dir: container.working_dir.clone(), netns: netns.clone(), gid: None };
                let rx = self.stop_apps.subscribe();
                self.apps.push(tokio::spawn(pod::container(self.shared.clone(), i, c, run, rx)));
            }
        }
    }

    /// Waits until every pod is ready, or `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let pods = &self.shared.pods;
        let all = self.shared.wait_for(|s| pods.iter().zip(s).all(|(p, s)| s.ready(p)));
        tokio::time::timeout(timeout, all).await.map_err(|_| {
            let status = self.shared.snapshot();
            let waiting: Vec<String> = pods
                .iter()
                .zip(&status)
                .filter(|(p, s)| !s.ready(p))
                .map(|(p, s)| {
                    format!(
                        "{} ({:?}{})",
                        p.name,
                        s.phase,
                        s.last_error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
                    )
                })
                .collect();
            format!("pods not ready after {timeout:?}: {}", waiting.join(", "))
        })
    }

    /// Resolves when the embedded control plane stops (it should not): why it did.
    pub async fn control_plane_stopped(&mut self) -> String {
        match (&mut self.control_plane).await {
            Ok(Ok(())) => "the control plane stopped".into(),
            Ok(Err(e)) => format!("the control plane stopped: {e}"),
            Err(e) => format!("the control plane stopped: {e}"),
        }
    }

    /// Stops the apps, then the sidecars, then the control plane; `mesh.json` stays behind
    /// (with no pid) so `strait logs` still reads the logs.
    pub async fn stop(self) {
        let _ = self.stop_apps.send(true);
        for t in self.apps {
            let _ = t.await;
        }
        let _ = self.stop_sidecars.send(true);
        for t in self.sidecars {
            let _ = t.await;
        }
        self.control_plane.abort();
        let _ = self.control_plane.await;
        for t in self.background {
            t.abort();
            let _ = t.await;
        }
        let done = MeshFile { pid: 0, ..state::mesh_file(&self.shared, &self.head) };
        let _ = state::write_atomic(
            &self.shared.dir.join("mesh.json"),
            &serde_json::to_string_pretty(&done).unwrap_or_default(),
        );
        // Namespaces go last, once nothing runs in them (the pods' are shared with the probes
        // through `shared`, so it goes first).
        drop(self.shared);
        drop(self.network);
    }
}

/// `path` made absolute (against the current directory), so other commands find it.
fn absolute(path: &str) -> String {
    std::path::absolute(path).map_or_else(|_| path.to_string(), |p| p.display().to_string())
}

/// The sidecar's group under capture: istio-iptables lets its traffic through.
const PROXY_GID: u32 = 1337;

/// Clears a previous run's pods and logs; refuses a directory a running mesh uses.
fn prepare_state_dir(dir: &std::path::Path, pods: &[PodPlan]) -> Result<(), String> {
    if let Ok(old) = MeshFile::read(dir)
        && old.pid != 0
        && old.pid != std::process::id()
        && std::path::Path::new(&format!("/proc/{}", old.pid)).exists()
    {
        return Err(format!(
            "a mesh (pid {}) is already running with state directory {}; stop it or pass another --state-dir",
            old.pid,
            dir.display()
        ));
    }
    for sub in ["pods", "registry"] {
        let _ = std::fs::remove_dir_all(dir.join(sub));
    }
    std::fs::create_dir_all(dir.join("registry")).map_err(|e| format!("{}: {e}", dir.display()))?;
    for p in pods {
        std::fs::create_dir_all(dir.join("pods").join(&p.name)).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Runs the control plane in this process and waits until its debug endpoint answers.
async fn start_control_plane(opts: &Options, dir: &std::path::Path) -> Result<JoinHandle<Result<(), String>>, String> {
    let mut paths = opts.paths.clone();
    paths.push(dir.join("registry").display().to_string());
    let cp = strait_control_plane::Options {
        paths,
        default_namespace: opts.namespace.clone(),
        xds_address: opts.xds_address,
        debug_address: opts.debug_address,
        debounce: Duration::from_millis(50),
        poll: Duration::from_millis(50),
    };
    let handle = tokio::spawn(strait_control_plane::run(cp));
    let debug = opts.debug_address;
    for _ in 0..100 {
        if handle.is_finished() {
            let result = handle.await.map_err(|e| e.to_string())?;
            return Err(format!("control plane: {}", result.err().unwrap_or_else(|| "stopped".into())));
        }
        if probe::http_ok(&debug.ip().to_string(), debug.port(), "/ready").await {
            return Ok(handle);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.abort();
    Err(format!("control plane: debug endpoint {debug} did not answer"))
}

/// `strait proxy …` for pod `p`.
pub fn sidecar_argv(opts: &Options, p: &PodPlan, admin: u16, dir: &std::path::Path) -> Vec<String> {
    let mut argv: Vec<String> = vec![opts.exe.display().to_string(), "proxy".into()];
    let mut flag = |k: &str, v: String| argv.extend([k.to_string(), v]);
    flag("--data-plane", opts.data_plane.name().into());
    flag("--xds-address", opts.xds_address.to_string());
    flag("--ip", p.ip.to_string());
    flag("--pod", p.name.clone());
    flag("--namespace", p.namespace.clone());
    flag("--admin-port", admin.to_string());
    flag("--health-port", HEALTH_PORT.to_string());
    flag("--metrics-port", METRICS_PORT.to_string());
    flag("--outbound-port", OUTBOUND_PORT.to_string());
    flag("--app-address", p.app_ip.to_string());
    if opts.isolation == Isolation::Netns {
        flag("--interception", "redirect".into());
    }
    flag("--log-level", "warning".into());
    flag("--bootstrap-dir", dir.join("pods").join(&p.name).join("envoy").display().to_string());
    // Local replies explain themselves (`x-strait-reason`), on by default in the local mesh.
    argv.push("--reason-header".into());
    argv
}

/// The sidecar's environment: a short drain (a local mesh stops at once when idle; pilot-agent
/// reads the same variable).
fn sidecar_env() -> Vec<(String, String)> {
    vec![("TERMINATION_DRAIN_DURATION_SECONDS".into(), "2".into())]
}

/// A port on 127.0.0.1 that was free a moment ago (sidecar admin ports).
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}
