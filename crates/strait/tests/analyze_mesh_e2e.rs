//! `strait analyze --mesh` against a running `strait up`: two Deployments of the built-in demo
//! app, `good` (binds its pod's app address, as the mesh tells it through `POD_IP`) and `bad`
//! (its manifest overrides `POD_IP` with 127.0.0.1, and its Service has a second port whose
//! target nothing listens on). The analysis of the live mesh must report, for the bad pod by
//! its name, STR0010 (listening on 127.0.0.1 while the sidecar forwards to the app address:
//! on loopback isolation the app address is loopback too, so the localhost-only STR0009 does
//! not apply) and STR0011 (nothing on the second target port), and nothing about the good
//! pod. Then Ctrl-C stops the mesh, and `--mesh` refuses a stopped mesh. The same again with
//! `--isolation netns` (root): there the sidecar forwards to the pod IP (198.18.C.D), so the
//! bad pod gets STR0009 (localhost only) instead of STR0010, read from the sockets of the
//! pod's own network namespace; it skips when not root, except under `CI=true`.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

const XDS: &str = "127.10.0.2:15010";
const DEBUG: &str = "127.10.0.2:15014";
/// The bad app's port on 127.0.0.1, unusual so nothing else on the machine holds it.
const BAD_PORT: u16 = 19481;

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: good}
spec:
  selector: {app: good}
  ports: [{name: http, port: 9080, targetPort: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: bad}
spec:
  selector: {app: bad}
  ports:
  - {name: http, port: 9080, targetPort: 19481}
  - {name: http-admin, port: 9090, targetPort: 19482}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: good-v1}
spec:
  selector: {matchLabels: {app: good}}
  template:
    metadata: {labels: {app: good, version: v1}}
    spec:
      containers:
      - name: good
        command: [strait, demo-app, ratings, --version, v1]
        env: [{name: PORT, value: "9080"}]
        readinessProbe: {httpGet: {path: /ready, port: 9080}, periodSeconds: 1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad-v1}
spec:
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad, version: v1}}
    spec:
      containers:
      - name: bad
        command: [strait, demo-app, ratings, --version, v1]
        env:
        - {name: PORT, value: "19481"}
        - {name: POD_IP, value: "127.0.0.1"}
        readinessProbe: {httpGet: {path: /ready, port: 19481, host: 127.0.0.1}, periodSeconds: 1}
"#;

fn mesh_json(state: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(state.join("mesh.json")).ok()?).ok()
}

/// `(pod name, app address)` of the pod of `app`, once it is ready and its app runs.
fn pod(mesh: &Value, app: &str) -> Option<(String, String)> {
    let p = mesh["pods"].as_array()?.iter().find(|p| p["app"] == app)?;
    let running =
        p["ready"] == true && p["appPids"].as_array().is_some_and(|a| !a.is_empty() && !a.contains(&0.into()));
    running.then(|| (p["name"].as_str().unwrap_or_default().into(), p["appIp"].as_str().unwrap_or_default().into()))
}

fn analyze(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin()).arg("analyze").args(args).output().expect("strait analyze");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// Both tests use the same fixed addresses: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn analyze_reports_the_running_pod_whose_app_listens_elsewhere() {
    run(false);
}

#[test]
fn analyze_reads_the_sockets_of_each_pods_network_namespace() {
    // The effective uid, from /proc (the test crate has no libc).
    let root = std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0")));
    if !root {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "--isolation netns needs root, and CI=true");
        eprintln!("skipped: --isolation netns needs root");
        return;
    }
    run(true);
}

fn run(netns: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = std::env::temp_dir().join(format!("strait-analyze-mesh-e2e-{netns}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config")).expect("temp dir");
    std::fs::write(dir.join("config/app.yaml"), MANIFESTS).expect("manifests");
    let state = dir.join("state");
    let mut cmd = Command::new(bin());
    cmd.args(["up", "-f"]).arg(dir.join("config")).arg("--state-dir").arg(&state);
    cmd.args(["--xds-address", XDS, "--debug-address", DEBUG]);
    if netns {
        cmd.args(["--isolation", "netns"]);
    }
    let mut guard = process::spawn("strait up", cmd, &dir.join("up.log"));
    let up_log = || tail(&std::fs::read_to_string(dir.join("up.log")).unwrap_or_default(), 40);

    // Ready means listening: both apps have a readiness probe on their socket.
    let ((good, _), (bad, _)) = wait_for("both pods ready with their apps running", Duration::from_secs(20), || {
        let mesh = mesh_json(&state)?;
        Some((pod(&mesh, "good")?, pod(&mesh, "bad")?))
    });

    let state_arg = state.display().to_string();
    let (code, stdout, stderr) = analyze(&["--mesh", &state_arg, "-o", "json"]);
    let messages: Vec<Value> = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("JSON from analyze ({e}):\n{stdout}\n{stderr}\n--- strait up ---\n{}", up_log()));
    let about = |pod: &str| -> Vec<String> {
        messages
            .iter()
            .filter(|m| m["message"].as_str().is_some_and(|t| t.contains(pod)))
            .map(|m| m["code"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let report = format!("{stdout}\n{stderr}");
    // Loopback isolation: the app address is loopback too, so "localhost only" (STR0009) does
    // not apply and "another address" (STR0010) does.
    let (wrong_address, forwards_to) = if netns { ("STR0009", "198.18.") } else { ("STR0010", "127.11.") };
    let mut bad_codes = about(&bad);
    bad_codes.sort();
    assert_eq!(bad_codes, [wrong_address, "STR0011"], "the bad pod {bad}: 127.0.0.1 and a dead port\n{report}");
    let found = messages.iter().find(|m| m["code"] == wrong_address).expect("the address message");
    let text = found["message"].as_str().unwrap_or_default();
    assert!(text.contains(&format!("127.0.0.1:{BAD_PORT}")), "names the socket: {text}");
    assert!(text.contains(&format!("to {forwards_to}")), "names the app address: {text}");
    assert!(about(&good).is_empty(), "nothing about the good pod {good}\n{report}");
    // An Error fails the run.
    assert_eq!(code, 1, "exit status\n{report}");

    // Ctrl-C: the mesh stops by itself, and a stopped mesh cannot be analyzed at runtime.
    Command::new("kill").args(["-INT", &guard.child.id().to_string()]).status().expect("kill");
    let exited =
        wait_for("strait up to exit after SIGINT", Duration::from_secs(20), || guard.child.try_wait().ok().flatten());
    assert!(exited.success(), "strait up exits 0: {exited}\n{}", up_log());
    let (code, _, stderr) = analyze(&["--mesh", &state_arg]);
    assert_eq!(code, 2, "a stopped mesh is a usage error: {stderr}");
    assert!(stderr.contains("not running"), "{stderr}");
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
}
