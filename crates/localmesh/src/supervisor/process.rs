//! Child processes of the local mesh: each in its own process group (so a terminal's Ctrl-C
//! reaches only `strait up`, which then stops apps before sidecars, as a kubelet stops a pod),
//! killed by the kernel if `strait up` dies however it dies (`PR_SET_PDEATHSIG`; an orphaned
//! sidecar would keep serving stale config and hold its addresses), with stdout and stderr
//! appended to one log file per container.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// What to run.
pub struct Spec<'a> {
    /// Program then arguments.
    pub argv: &'a [String],
    /// Environment (added to a cleared environment plus `PATH`, `HOME`, `USER`, `TMPDIR`, `RUST_LOG`).
    pub env: &'a [(String, String)],
    /// Working directory.
    pub dir: Option<&'a str>,
    /// Log file (appended).
    pub log: &'a Path,
    /// The network namespace to run in (`ip netns exec`, which also mounts its `/etc` files).
    pub netns: Option<&'a str>,
    /// The group to run as (the sidecar's 1337, which the capture rules let through).
    pub gid: Option<u32>,
}

/// Variables passed through from `strait up`'s environment: what a shell needs to find
/// programs, and the Strait proxy's log and Envoy settings.
const INHERITED: [&str; 8] =
    ["PATH", "HOME", "USER", "TMPDIR", "LANG", "RUST_LOG", "STRAIT_ENVOY", "STRAIT_PROXY_WORKERS"];

/// Starts `spec`.
pub fn spawn(spec: &Spec<'_>) -> Result<Child, String> {
    let (program, args) = spec.argv.split_first().ok_or("empty command")?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(spec.log)
        .map_err(|e| format!("{}: {e}", spec.log.display()))?;
    let err = log.try_clone().map_err(|e| format!("{}: {e}", spec.log.display()))?;
    let mut cmd = match spec.netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, program]);
            c
        }
        None => Command::new(program),
    };
    if let Some(gid) = spec.gid {
        cmd.gid(gid);
    }
    cmd.args(args).env_clear().stdin(Stdio::null()).stdout(Stdio::from(log)).stderr(Stdio::from(err));
    for k in INHERITED {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    cmd.envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if let Some(dir) = spec.dir {
        cmd.current_dir(dir);
    }
    cmd.process_group(0).kill_on_drop(true);
    die_with_parent(&mut cmd);
    cmd.spawn().map_err(|e| format!("cannot run {program:?}: {e}"))
}

/// Stops `child` as the kubelet does: SIGTERM to its process group, SIGKILL after `grace`.
pub async fn stop(child: &mut Child, grace: Duration) {
    if let Some(pid) = child.id() {
        signal_group(pid, libc::SIGTERM);
        if tokio::time::timeout(grace, child.wait()).await.is_ok() {
            // The group may still hold children the process started (Envoy under `strait
            // proxy` exits with it through its own PDEATHSIG); make sure nothing lingers.
            signal_group(pid, libc::SIGKILL);
            return;
        }
        signal_group(pid, libc::SIGKILL);
    }
    let _ = child.kill().await;
    let _ = child.wait().await;
}

/// Sends `signal` to the process group led by `pid` (our children lead their own groups).
#[allow(unsafe_code)]
fn signal_group(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return };
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
    // The group is one we created (process_group(0) makes the child its leader).
    unsafe {
        libc::kill(-pid, signal);
    }
}

/// Makes the kernel SIGKILL the child when this process dies (the parent-death signal fires
/// when the thread that forked it exits: the runtime's worker threads live as long as the mesh).
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which is
    // async-signal-safe, with constant arguments; it allocates nothing and touches no locks.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
