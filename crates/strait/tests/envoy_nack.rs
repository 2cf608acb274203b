//! A NACK end to end with real Envoy: a DestinationRule edit that is valid config but that the
//! proxy cannot apply (its `tls.caCertificates` file does not exist on the proxy's host, so
//! Envoy rejects the cluster update) is pushed to a `strait proxy --data-plane envoy` sidecar.
//! The test asserts that `strait proxy-status` shows the CDS NACK with Envoy's message, that the
//! control plane counts it in `pilot_total_xds_rejects`, and that traffic keeps flowing with the
//! last good config. Own addresses (127.0.0.30–.32) so it runs beside `envoy_e2e`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use strait_testkit::process::{self, Guard, curl, wait_for};
use strait_testkit::upstream::{self, Behaviour};

const SIDECAR_IP: &str = "127.0.0.30";
const POD: &str = "nack-client-1.default";

const SERVICES: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1-1, namespace: default, labels: {app: reviews, version: v1}}
spec: {containers: [{name: reviews, image: reviews, ports: [{containerPort: 9080}]}]}
status: {podIP: 127.0.0.31}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v2-1, namespace: default, labels: {app: reviews, version: v2}}
spec: {containers: [{name: reviews, image: reviews, ports: [{containerPort: 9080}]}]}
status: {podIP: 127.0.0.32}
---
apiVersion: v1
kind: Pod
metadata: {name: nack-client-1, namespace: default, labels: {app: nack-client}}
spec: {containers: [{name: client, image: client}]}
status: {podIP: 127.0.0.30}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"#;

/// The last good routes: everything to v2.
const GOOD: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: v2}}]
"#;

/// Valid config, but the CA file is missing on this host, so Envoy rejects the clusters
/// ("Invalid path"). Were it applied, requests would fail TLS against the plaintext upstreams.
const NACKED: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-tls, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: /nonexistent/strait-test-ca.pem}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"#;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_strait")
}

fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

/// Control plane + one sidecar; returns (guards, outbound proxy URL, debug address).
fn start(dir: &Path) -> (Vec<Guard>, String, String) {
    let (xds, debug) = (process::free_port("127.0.0.1"), process::free_port("127.0.0.1"));
    let mut cp = Command::new(bin());
    cp.args(["control-plane", "--config"]).arg(dir.join("config"));
    cp.args(["--xds-address", &format!("127.0.0.1:{xds}"), "--debug-address", &format!("127.0.0.1:{debug}")]);
    let cp = process::spawn("control plane", cp, &dir.join("control-plane.log"));
    let (admin, health, out) =
        (process::free_port("127.0.0.1"), process::free_port(SIDECAR_IP), process::free_port(SIDECAR_IP));
    let mut proxy = Command::new(bin());
    proxy.args(["proxy", "--data-plane", "envoy", "--xds-address", &format!("127.0.0.1:{xds}"), "--ip", SIDECAR_IP]);
    proxy.args(["--pod", "nack-client-1", "--namespace", "default", "--admin-port", &admin.to_string()]);
    proxy.args(["--health-port", &health.to_string(), "--outbound-port", &out.to_string(), "--log-level", "info"]);
    let proxy = process::spawn("sidecar", proxy, &dir.join("sidecar.log"));
    wait_for("sidecar readiness", Duration::from_secs(30), || {
        let url = format!("http://{SIDECAR_IP}:{health}/healthz/ready");
        (curl(&["-o", "/dev/null", "-w", "%{http_code}", &url]) == "200").then_some(())
    });
    (vec![proxy, cp], format!("http://{SIDECAR_IP}:{out}"), format!("127.0.0.1:{debug}"))
}

fn proxy_status(debug: &str) -> String {
    let out = Command::new(bin()).args(["proxy-status", "--control-plane", debug]).output().expect("proxy-status");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The column `index` (2 = CDS, 5 = RDS) of our proxy's row.
fn state(status: &str, index: usize) -> Option<String> {
    let row = status.lines().find(|l| l.starts_with(POD))?;
    let cols: Vec<&str> = row.split("   ").map(str::trim).filter(|c| !c.is_empty()).collect();
    cols.get(index).map(|s| s.to_string())
}

/// `n` requests to reviews through the sidecar; the response bodies.
fn reviews(outbound: &str, n: usize) -> Vec<String> {
    curl(&["-x", outbound, &format!("http://reviews:9080/?n=[1-{n}]")]).lines().map(str::to_string).collect()
}

#[test]
fn envoy_nack_keeps_last_good_routes() {
    if process::envoy().is_none() {
        return;
    }
    for (addr, version) in [("127.0.0.31:9080", "v1"), ("127.0.0.32:9080", "v2")] {
        // Already bound by an earlier test in this process is fine.
        let _ = upstream::spawn(addr, "reviews", version, Behaviour::default());
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("strait-e2e-nack-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config")).expect("temp dir");
    std::fs::write(dir.join("config/services.yaml"), SERVICES).expect("fixture");
    std::fs::write(dir.join("config/routes.yaml"), GOOD).expect("good VS");

    // The edit must pass Strait's validation, or the control plane never sends it.
    let bad = dir.join("nacked.yaml");
    std::fs::write(&bad, NACKED).expect("bad VS");
    let validate = Command::new(bin()).args(["validate", "-f"]).arg(&bad).output().expect("strait validate");
    assert!(
        validate.status.success(),
        "the NACK trigger must be valid config (only the missing file makes Envoy reject it):\n{}",
        String::from_utf8_lossy(&validate.stdout)
    );

    let (_guards, outbound, debug) = start(&dir);
    let context = || {
        format!(
            "\n--- control plane ---\n{}\n--- sidecar ---\n{}",
            log(&dir, "control-plane.log"),
            log(&dir, "sidecar.log")
        )
    };
    wait_for("RDS SYNCED", Duration::from_secs(10), || {
        (state(&proxy_status(&debug), 5).as_deref() == Some("SYNCED")).then_some(())
    });
    let before = reviews(&outbound, 10);
    assert!(before.len() == 10 && before.iter().all(|b| b == "reviews v2"), "good routes: {before:?}{}", context());

    std::fs::write(dir.join("config/tls.yaml"), NACKED).expect("edit DR");
    let status = wait_for("CDS NACK", Duration::from_secs(10), || {
        let s = proxy_status(&debug);
        (state(&s, 2).as_deref() == Some("NACK")).then_some(s)
    });
    let line = status.lines().find(|l| l.starts_with(&format!("{POD} CDS NACK:"))).unwrap_or_default();
    assert!(
        line.contains("/nonexistent/strait-test-ca.pem"),
        "Envoy's message under the table:\n{status}{}",
        context()
    );

    println!("{line}");
    let (code, metrics) = metrics(&debug);
    let rejects = metrics
        .lines()
        .find_map(|l| l.strip_prefix("pilot_total_xds_rejects "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(code == "200" && rejects.is_some_and(|n| n >= 1.0), "pilot_total_xds_rejects ≥ 1:\n{metrics}");

    println!("pilot_total_xds_rejects {rejects:?}");
    let after = reviews(&outbound, 20);
    assert!(
        after.len() == 20 && after.iter().all(|b| b == "reviews v2"),
        "last good routes still serve: {after:?}{}",
        context()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The control plane's `/metrics`: (status code, body).
fn metrics(debug: &str) -> (String, String) {
    let out = curl(&["-w", "\n%{http_code}", &format!("http://{debug}/metrics")]);
    let (body, code) = out.rsplit_once('\n').unwrap_or((&out, ""));
    (code.to_string(), body.to_string())
}
