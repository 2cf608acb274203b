//! End to end with real Envoy: the control plane serves config read from files, `strait proxy
//! --data-plane envoy` runs a sidecar, real upstream servers answer with their service and
//! version, and curl sends traffic through the sidecar's capture-free HTTP proxy port. The
//! routing configs are Istio's Bookinfo VirtualServices, read from the corpus in place.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use strait_testkit::process::{self, Guard, curl, wait_for};
use strait_testkit::upstream::{self, Behaviour};

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
status: {podIP: 127.0.0.21}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v2-1, namespace: default, labels: {app: reviews, version: v2}}
spec: {containers: [{name: reviews, image: reviews, ports: [{containerPort: 9080}]}]}
status: {podIP: 127.0.0.22}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v3-1, namespace: default, labels: {app: reviews, version: v3}}
spec: {containers: [{name: reviews, image: reviews, ports: [{containerPort: 9080}]}]}
status: {podIP: 127.0.0.23}
---
apiVersion: v1
kind: Pod
metadata: {name: productpage-v1-1, namespace: default, labels: {app: productpage, version: v1}}
spec: {containers: [{name: productpage, image: productpage}]}
status: {podIP: 127.0.0.10}
"#;

struct Mesh {
    dir: PathBuf,
    corpus: PathBuf,
    outbound: String,
    debug: String,
    _cp: Guard,
    _proxy: Guard,
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_strait")
}

impl Mesh {
    fn start(name: &str, corpus: PathBuf) -> Mesh {
        let dir = std::env::temp_dir().join(format!("strait-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).expect("temp dir");
        std::fs::write(dir.join("config/services.yaml"), SERVICES).expect("fixture");
        let dr = corpus.join("samples/bookinfo/networking/destination-rule-all.yaml");
        std::fs::copy(&dr, dir.join("config/destination-rules.yaml")).expect("copy DR");
        let (xds, debug) = (process::free_port("127.0.0.1"), process::free_port("127.0.0.1"));
        let mut cp = Command::new(bin());
        cp.args(["control-plane", "--config"]).arg(dir.join("config"));
        cp.args(["--xds-address", &format!("127.0.0.1:{xds}"), "--debug-address", &format!("127.0.0.1:{debug}")]);
        let cp = process::spawn("control plane", cp, &dir.join("control-plane.log"));
        let (admin, health, out) =
            (process::free_port("127.0.0.1"), process::free_port("127.0.0.10"), process::free_port("127.0.0.10"));
        let mut proxy = Command::new(bin());
        proxy.args([
            "proxy",
            "--data-plane",
            "envoy",
            "--xds-address",
            &format!("127.0.0.1:{xds}"),
            "--ip",
            "127.0.0.10",
        ]);
        proxy.args(["--pod", "productpage-v1-1", "--namespace", "default", "--admin-port", &admin.to_string()]);
        proxy.args(["--health-port", &health.to_string(), "--outbound-port", &out.to_string(), "--log-level", "info"]);
        let proxy = process::spawn("sidecar", proxy, &dir.join("sidecar.log"));
        wait_for("sidecar readiness", Duration::from_secs(30), || {
            (curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("http://127.0.0.10:{health}/healthz/ready")])
                == "200")
                .then_some(())
        });
        Mesh {
            dir,
            corpus,
            outbound: format!("http://127.0.0.10:{out}"),
            debug: format!("127.0.0.1:{debug}"),
            _cp: cp,
            _proxy: proxy,
        }
    }

    /// Installs an Istio sample VirtualService file as the routing config and waits until the
    /// sidecar has ACKed it.
    fn route(&self, sample: &str) {
        let src = self.corpus.join("samples/bookinfo/networking").join(sample);
        std::fs::copy(&src, self.dir.join("config/routes.yaml")).expect("copy VS");
        std::thread::sleep(Duration::from_millis(400));
        wait_for("all proxies SYNCED", Duration::from_secs(10), || self.synced().then_some(()));
    }

    fn synced(&self) -> bool {
        let out =
            Command::new(bin()).args(["proxy-status", "--control-plane", &self.debug]).output().expect("proxy-status");
        let text = String::from_utf8_lossy(&out.stdout);
        let row = text.lines().find(|l| l.starts_with("productpage-v1-1.default"));
        // CDS and LDS must be SYNCED; EDS/RDS may be NOT SENT when nothing asks for them.
        let cols: Vec<&str> =
            row.map(|r| r.split("   ").map(str::trim).filter(|c| !c.is_empty()).collect()).unwrap_or_default();
        cols.len() > 5
            && cols[2] == "SYNCED"
            && cols[3] == "SYNCED"
            && cols[4..6].iter().all(|c| *c == "SYNCED" || *c == "NOT SENT")
    }

    /// Sends `n` requests to reviews through the sidecar; returns the bodies.
    fn reviews(&self, n: usize, headers: &[&str]) -> Vec<String> {
        let mut args = vec!["-x", &self.outbound];
        for h in headers {
            args.extend(["-H", h]);
        }
        let url = format!("http://reviews:9080/?n=[1-{n}]");
        args.push(&url);
        curl(&args).lines().map(str::to_string).collect()
    }

    /// Removes the temp dir (only on success: on failure the logs stay for reading).
    fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }
}

fn upstreams() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        for (ip, v) in [("127.0.0.21", "v1"), ("127.0.0.22", "v2"), ("127.0.0.23", "v3")] {
            upstream::spawn(&format!("{ip}:9080"), "reviews", v, Behaviour::default()).expect("upstream binds");
        }
    });
}

fn count(bodies: &[String], needle: &str) -> usize {
    bodies.iter().filter(|b| b.starts_with(needle)).count()
}

#[test]
fn bookinfo_routing_through_real_envoy() {
    let (Some(_), Some(corpus)) = (process::envoy(), strait_testkit::istio_corpus()) else { return };
    upstreams();
    let mesh = Mesh::start("routing", corpus);
    let check = |cond: bool, what: &str| {
        assert!(
            cond,
            "{what}\n--- control plane ---\n{}\n--- sidecar ---\n{}",
            mesh.log("control-plane.log"),
            mesh.log("sidecar.log")
        );
    };

    mesh.route("virtual-service-all-v1.yaml");
    let bodies = mesh.reviews(50, &[]);
    check(bodies.len() == 50 && count(&bodies, "reviews v1") == 50, &format!("all-v1: {bodies:?}"));

    mesh.route("virtual-service-reviews-test-v2.yaml");
    let jason = mesh.reviews(20, &["end-user: jason"]);
    let others = mesh.reviews(20, &[]);
    check(count(&jason, "reviews v2") == 20, &format!("jason → v2: {jason:?}"));
    check(count(&others, "reviews v1") == 20, &format!("others → v1: {others:?}"));

    mesh.route("virtual-service-reviews-80-20.yaml");
    let bodies = mesh.reviews(1000, &[]);
    let v1 = count(&bodies, "reviews v1");
    let v2 = count(&bodies, "reviews v2");
    println!("80/20 split over 1000 requests: v1={v1} v2={v2}");
    check(v1 + v2 == 1000 && (750..=850).contains(&v1), &format!("80/20: v1={v1} v2={v2}"));
    mesh.cleanup();
}
