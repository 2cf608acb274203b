//! `strait up`: plan the manifests, start the mesh, show its status until Ctrl-C (or SIGTERM),
//! then stop apps, sidecars and the control plane in that order.

use crate::supervisor::{Mesh, Options};
use std::io::IsTerminal;
use std::path::PathBuf;

/// The default state directory: `$TMPDIR/strait-mesh-$USER`.
pub fn default_state_dir() -> PathBuf {
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    std::env::temp_dir().join(format!("strait-mesh-{user}"))
}

/// Runs `strait up` until interrupted.
pub async fn run(opts: Options) -> Result<(), String> {
    let plan = crate::supervisor::load(&opts).map_err(|e| e.join("\n"))?;
    if plan.pods.is_empty() {
        return Err(format!("no Deployments in {}: nothing to run", opts.paths.join(", ")));
    }
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    let pods = plan.pods.len();
    let mut mesh = Mesh::start(opts, plan).await?;
    // The addresses as the mesh runs them (under netns the control plane moves to the host's
    // address on the pods' network).
    let o = &mesh.opts;
    let debug = o.debug_address;
    let tty = std::io::stdout().is_terminal();
    let header = vec![
        format!(
            "strait up: {pods} pods, {} sidecars, isolation {:?}; control plane xDS {} debug {debug}; state {}",
            o.data_plane.name(),
            o.isolation,
            o.xds_address,
            o.state_dir.display()
        ),
        format!(
            "logs: strait logs POD [-c istio-proxy]   sync: strait proxy-status --control-plane {debug}   control plane log: {}   stop: Ctrl-C",
            o.state_dir.join("control-plane.log").display()
        ),
        String::new(),
    ];
    if !tty {
        for l in &header[..2] {
            println!("{l}");
        }
    }
    let view = tokio::spawn(crate::status::run(mesh.shared.clone(), debug, header, tty));
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    let reason = tokio::select! {
        _ = tokio::signal::ctrl_c() => None,
        _ = term.recv() => None,
        why = mesh.control_plane_stopped() => Some(why),
    };
    view.abort();
    let _ = view.await;
    println!("stopping: apps, then sidecars, then the control plane");
    mesh.stop().await;
    println!("stopped");
    reason.map_or(Ok(()), Err)
}
