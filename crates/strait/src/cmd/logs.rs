//! `strait logs POD [-c CONTAINER] [-f]`: a local-mesh pod's container log, like `kubectl logs`
//! (`-c istio-proxy` is the sidecar, access log included). See `strait_localmesh::logs`.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `strait logs`.
#[derive(clap::Args)]
pub struct Args {
    /// The pod (a unique prefix is enough: `reviews-v2`).
    pod: String,
    /// The container (default: the pod's first; `istio-proxy` is the sidecar).
    #[arg(short = 'c', long)]
    container: Option<String>,
    /// Keep printing what is appended.
    #[arg(short = 'f', long)]
    follow: bool,
    /// The mesh's state directory (default: $TMPDIR/strait-mesh-$USER, as `strait up`).
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

/// Prints the log.
pub fn run(a: &Args) -> ExitCode {
    let dir = a.state_dir.clone().unwrap_or_else(strait_localmesh::up::default_state_dir);
    match strait_localmesh::logs::run(&dir, &a.pod, a.container.as_deref(), a.follow, &mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
