//! `strait up -f DIR`: runs Kubernetes manifests plus Istio config as a local mesh (the control
//! plane embedded, one sidecar and the app's processes per Deployment replica), shows the pods'
//! status until Ctrl-C, then stops everything. See `strait_localmesh`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Data plane of the mesh's sidecars.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum DataPlane {
    /// The Strait proxy.
    Strait,
    /// Real Envoy (from PATH or `STRAIT_ENVOY`).
    Envoy,
}

impl From<DataPlane> for strait_localmesh::supervisor::DataPlane {
    fn from(d: DataPlane) -> Self {
        match d {
            DataPlane::Strait => Self::Strait,
            DataPlane::Envoy => Self::Envoy,
        }
    }
}

/// How pods are separated.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Isolation {
    /// Loopback addresses per pod; apps reach the mesh through their sidecar's HTTP proxy.
    None,
    /// A network namespace per pod with iptables capture (root, Linux).
    Netns,
}

impl From<Isolation> for strait_localmesh::supervisor::Isolation {
    fn from(i: Isolation) -> Self {
        match i {
            Isolation::None => Self::None,
            Isolation::Netns => Self::Netns,
        }
    }
}

/// Arguments of `strait up`.
#[derive(clap::Args)]
pub struct Args {
    /// Manifests and Istio config: files or directories (watched: edits apply live).
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    files: Vec<String>,
    /// Namespace for documents without one.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// The sidecars' data plane.
    #[arg(long, value_enum, default_value_t = DataPlane::Strait)]
    data_plane: DataPlane,
    /// Pod isolation: `none` (loopback addresses, no privileges) or `netns` (root).
    #[arg(long, value_enum, default_value_t = Isolation::None)]
    isolation: Isolation,
    /// Where logs and state go (default: $TMPDIR/strait-mesh-$USER).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// The embedded control plane's ADS address.
    #[arg(long, default_value = "127.0.0.1:15010")]
    xds_address: SocketAddr,
    /// The embedded control plane's debug address (`strait proxy-status` reads it).
    #[arg(long, default_value = "127.0.0.1:15014")]
    debug_address: SocketAddr,
}

/// Runs the mesh until interrupted.
pub fn run(a: &Args) -> ExitCode {
    let state_dir = a.state_dir.clone().unwrap_or_else(strait_localmesh::up::default_state_dir);
    if let Err(e) = log_to_file(&state_dir.join("control-plane.log")) {
        return fail(&e);
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return fail(&format!("cannot find this executable: {e}")),
    };
    let opts = strait_localmesh::supervisor::Options {
        paths: a.files.clone(),
        namespace: a.namespace.clone(),
        state_dir,
        data_plane: a.data_plane.into(),
        isolation: a.isolation.into(),
        xds_address: a.xds_address,
        debug_address: a.debug_address,
        exe,
    };
    match runtime().and_then(|rt| rt.block_on(strait_localmesh::up::run(opts))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Appends this process's logs (the embedded control plane's) to `path`, so they do not scroll
/// through the status view; `RUST_LOG` filters them (default `info`).
pub fn log_to_file(path: &std::path::Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let filter = std::env::var("RUST_LOG").ok().and_then(|d| tracing_subscriber::EnvFilter::try_new(d).ok());
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter.unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info")))
        .try_init();
    Ok(())
}

/// The mesh's runtime: two workers (the control plane, process supervision, the view).
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn fail(e: &str) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}
