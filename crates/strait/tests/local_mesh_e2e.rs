//! `strait up` end to end on the demo manifests (`examples/demo`, copied to a temp dir so
//! scenarios can be applied live): every pod gets ready, requests flow through the sidecars
//! with their headers propagated, `strait logs` shows both containers, and the Istio config of
//! the demo scenarios applies live: the 80/20 shift splits exactly on the Strait proxy (within
//! a tolerance on Envoy, whose weighted clusters pick at random), the fault scenario shows `FI`
//! in the caller's access log, REGISTRY_ONLY sends a tunnel to the external API to
//! `BlackHoleCluster`. Ctrl-C stops every process. Loopback only (127.10.0.0/16).

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const XDS: &str = "127.10.0.2:15010";
const DEBUG: &str = "127.10.0.2:15014";

/// Both tests use the same fixed addresses: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Up {
    dir: PathBuf,
    guard: Option<Guard>,
}

impl Up {
    fn start(data_plane: &str) -> Up {
        let dir = std::env::temp_dir().join(format!("strait-up-e2e-{data_plane}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).expect("temp dir");
        for f in ["bookinfo.yaml", "destination-rules.yaml", "external.yaml"] {
            std::fs::copy(repo().join("examples/demo").join(f), dir.join("config").join(f)).expect("copy manifests");
        }
        let mut cmd = Command::new(bin());
        cmd.args(["up", "-f"]).arg(dir.join("config")).arg("--state-dir").arg(dir.join("state"));
        cmd.args(["--data-plane", data_plane, "--xds-address", XDS, "--debug-address", DEBUG]);
        let guard = process::spawn("strait up", cmd, &dir.join("up.log"));
        let up = Up { dir, guard: Some(guard) };
        wait_for("every pod ready", Duration::from_secs(60), || up.mesh().filter(|m| all_ready(m)).map(|_| ()));
        up
    }

    fn mesh(&self) -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(self.dir.join("state/mesh.json")).ok()?).ok()
    }

    /// The pod IP of the first pod of `app`.
    fn ip(&self, app: &str) -> String {
        let mesh = self.mesh().expect("mesh.json");
        let pods = mesh["pods"].as_array().cloned().unwrap_or_default();
        let pod = pods.iter().find(|p| p["app"] == app).unwrap_or_else(|| panic!("no {app} pod"));
        pod["ip"].as_str().unwrap_or_default().to_string()
    }

    fn check(&self, cond: bool, what: &str) {
        assert!(
            cond,
            "{what}\n--- strait up ---\n{}\n--- failed: {what}",
            tail(&std::fs::read_to_string(self.dir.join("up.log")).unwrap_or_default(), 60)
        );
    }

    /// Writes a scenario from `examples/demo-scenarios` as the mesh's live config and waits
    /// until the control plane published it and every sidecar acknowledged it.
    fn apply(&self, scenario: &str) {
        let before = registry_version().unwrap_or(0);
        let text = std::fs::read_to_string(repo().join("examples/demo-scenarios").join(scenario)).expect("scenario");
        std::fs::write(self.dir.join("config/scenario.yaml"), text).expect("write scenario");
        let version =
            wait_for("a new config version", Duration::from_secs(10), || registry_version().filter(|v| *v > before));
        wait_for("every sidecar sent and SYNCED the new version", Duration::from_secs(15), || {
            synced(version).then_some(())
        });
    }

    fn logs(&self, pod: &str, container: Option<&str>) -> String {
        let mut cmd = Command::new(bin());
        cmd.args(["logs", pod, "--state-dir"]).arg(self.dir.join("state"));
        if let Some(c) = container {
            cmd.args(["-c", c]);
        }
        String::from_utf8_lossy(&cmd.output().expect("strait logs").stdout).into_owned()
    }

    /// Ctrl-C: `strait up` must exit by itself and leave no process of the mesh behind.
    fn interrupt(mut self) {
        let mut guard = self.guard.take().expect("running");
        let pid = guard.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().expect("kill");
        let exited = wait_for("strait up to exit after SIGINT", Duration::from_secs(30), || {
            guard.child.try_wait().ok().flatten()
        });
        self.check(exited.success(), &format!("strait up exits 0 after Ctrl-C, got {exited}"));
        let state = self.dir.join("state").display().to_string();
        let left: Vec<String> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.contains(&state))
            .collect();
        self.check(left.is_empty(), &format!("no sidecar left after Ctrl-C: {left:?}"));
        for addr in ["127.11.1.2:9080", "127.10.1.2:15001", "127.10.0.1:8443"] {
            self.check(std::net::TcpStream::connect(addr).is_err(), &format!("nothing listens on {addr} after Ctrl-C"));
        }
        let mesh = self.mesh().expect("mesh.json stays");
        self.check(mesh["pid"] == 0, "mesh.json says the mesh stopped");
        drop(guard);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn all_ready(mesh: &Value) -> bool {
    let pods = mesh["pods"].as_array().cloned().unwrap_or_default();
    pods.len() == 7 && pods.iter().all(|p| p["ready"] == true)
}

/// A control-plane debug endpoint's JSON.
fn get_json(path: &str) -> Option<Value> {
    serde_json::from_str(&curl(&[&format!("http://{DEBUG}{path}")])).ok()
}

fn registry_version() -> Option<u64> {
    get_json("/debug/registryz")?["version"].as_u64()
}

/// Every sidecar SYNCED on CDS and LDS, nothing STALE or NACKed, and each has been sent
/// `version` for some type (every scenario changes every sidecar's config).
fn synced(version: u64) -> bool {
    let rows = get_json("/debug/syncz").and_then(|v| v.as_array().cloned()).unwrap_or_default();
    rows.len() == 6
        && rows.iter().all(|r| {
            let states: Vec<&str> =
                ["CDS", "LDS", "EDS", "RDS"].iter().map(|t| r["state"][t].as_str().unwrap_or("")).collect();
            let sent = r["sent"]
                .as_object()
                .is_some_and(|m| m.values().any(|v| v.as_str().and_then(|s| s.parse::<u64>().ok()) >= Some(version)));
            states[..2] == ["SYNCED", "SYNCED"] && states.iter().all(|s| *s == "SYNCED" || *s == "NOT SENT") && sent
        })
}

fn count(bodies: &str, version: &str) -> usize {
    bodies.lines().filter(|l| l.contains(&format!("\"service\":\"reviews\",\"version\":\"{version}\""))).count()
}

fn local_mesh(data_plane: &str, exact: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let up = Up::start(data_plane);
    let pp = up.ip("productpage");
    let proxy = format!("http://{pp}:15001");

    // The page: productpage → details (→ books-api, outside the mesh) and reviews, one request id.
    let page: Value =
        serde_json::from_str(&curl(&["-H", "end-user: tester", &format!("http://{pp}:9080/productpage")]))
            .unwrap_or_default();
    let id = page["requestId"].as_str().unwrap_or_default().to_string();
    up.check(
        !id.is_empty() && page["service"] == "productpage",
        &format!("productpage answers through its sidecar: {page}"),
    );
    for part in [&page["details"], &page["reviews"], &page["details"]["external"]] {
        up.check(
            part["requestId"] == id.as_str() && part["endUser"] == "tester",
            &format!("x-request-id and end-user propagate: {page}"),
        );
    }
    up.check(
        page["details"]["external"]["service"] == "books-api",
        &format!("ALLOW_ANY reaches the external API: {page}"),
    );

    // Logs of both containers, by pod-name prefix.
    up.check(up.logs("productpage-v1", None).contains("listening on 127.11."), "strait logs shows the app's log");
    let sidecar = up.logs("productpage-v1", Some("istio-proxy"));
    up.check(
        sidecar.contains(&format!("\"{id}\"")) && sidecar.contains("inbound|9080||"),
        "strait logs -c istio-proxy shows the access log",
    );

    // 80/20: exactly 80 and 20 of 100 on the Strait proxy (smooth weighted round robin).
    up.apply("shift.yaml");
    let bodies = curl(&["-x", &proxy, "http://reviews:9080/reviews/[1-100]"]);
    let (v1, v2) = (count(&bodies, "v1"), count(&bodies, "v2"));
    up.check(v1 + v2 == 100, &format!("100 answers from v1 or v2, got v1={v1} v2={v2} v3={}", count(&bodies, "v3")));
    if exact {
        up.check((v1, v2) == (80, 20), &format!("80/20 exactly, got {v1}/{v2}"));
    } else {
        up.check((65..=95).contains(&v1), &format!("about 80/20, got {v1}/{v2}"));
    }

    // Fault: the caller's sidecar aborts about half the calls to ratings with 500 FI.
    up.apply("fault.yaml");
    let codes = curl(&["-x", &proxy, "-o", "/dev/null", "-w", "%{http_code}\n", "http://ratings:9080/ratings/[1-40]"]);
    let aborted = codes.lines().filter(|c| *c == "500").count();
    up.check(codes.lines().count() == 40 && (4..=36).contains(&aborted), &format!("about half aborted: {codes}"));
    wait_for("FI in productpage's access log", Duration::from_secs(5), || {
        up.logs("productpage-v1", Some("istio-proxy"))
            .lines()
            .any(|l| l.contains(" 500 FI fault_filter_abort "))
            .then_some(())
    });

    // REGISTRY_ONLY: a tunnel to the external API is refused by BlackHoleCluster.
    let external = "http://127.10.0.1:8443/books/1";
    let out = curl(&["-p", "-x", &proxy, "-w", "\n%{http_code}", external]);
    up.check(
        out.contains("books-api") && out.ends_with("\n200"),
        &format!("ALLOW_ANY tunnels to the external API: {out:?}"),
    );
    up.apply("egress.yaml");
    let out = curl(&["-p", "-x", &proxy, "-w", "\n%{http_connect}", external]);
    up.check(
        !out.contains("books-api") && out.ends_with("\n503"),
        &format!("REGISTRY_ONLY refuses the tunnel: {out:?}"),
    );
    wait_for("BlackHoleCluster in productpage's access log", Duration::from_secs(5), || {
        let log = up.logs("productpage-v1", Some("istio-proxy"));
        log.lines()
            .any(|l| l.contains("\"CONNECT ") && l.contains(" 503 UH ") && l.contains("BlackHoleCluster"))
            .then_some(())
    });

    up.interrupt();
}

#[test]
fn local_mesh_with_strait_sidecars() {
    local_mesh("strait", true);
}

#[test]
fn local_mesh_with_envoy_sidecars() {
    if process::envoy().is_none() {
        return;
    }
    local_mesh("envoy", false);
}
