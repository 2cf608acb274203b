//! The shared end-to-end harness: a control plane reading a temp config dir, one `strait proxy
//! --data-plane envoy` sidecar (pod productpage-v1-1, each mesh on its own IP from 127.0.0.100), and real upstream servers
//! at 127.0.0.21–28 answering with their service and version. Each test binary uses only part
//! of it, hence the dead-code allowance.
#![allow(dead_code)]

pub mod gateway;

use std::path::PathBuf;
pub use std::process::Command;
pub use std::time::Duration;
pub use strait_testkit::process::{self, Guard, curl, wait_for};
use strait_testkit::upstream::{self, Behaviour};

pub const SERVICES: &str = r#"
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
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: default}
spec:
  selector: {app: ratings}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Pod
metadata: {name: ratings-v1-1, namespace: default, labels: {app: ratings, version: v1}}
spec: {containers: [{name: ratings, image: ratings, ports: [{containerPort: 9080}]}]}
status: {podIP: 127.0.0.24}
---
apiVersion: v1
kind: Service
metadata: {name: slow, namespace: default}
spec:
  selector: {app: slow}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Pod
metadata: {name: slow-1, namespace: default, labels: {app: slow}}
spec: {containers: [{name: slow, image: slow, ports: [{containerPort: 9080}]}]}
status: {podIP: 127.0.0.25}
---
apiVersion: v1
kind: Service
metadata: {name: flaky, namespace: default}
spec:
  selector: {app: flaky}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Pod
metadata: {name: flaky-1, namespace: default, labels: {app: flaky}}
spec: {containers: [{name: flaky, image: flaky, ports: [{containerPort: 9080}]}]}
status: {podIP: 127.0.0.26}
---
apiVersion: v1
kind: Service
metadata: {name: bad, namespace: default}
spec:
  selector: {app: bad}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Pod
metadata: {name: bad-1, namespace: default, labels: {app: bad}}
spec: {containers: [{name: bad, image: bad, ports: [{containerPort: 9080}]}]}
status: {podIP: 127.0.0.27}
---
apiVersion: v1
kind: Pod
metadata: {name: bad-2, namespace: default, labels: {app: bad}}
spec: {containers: [{name: bad, image: bad, ports: [{containerPort: 9080}]}]}
status: {podIP: 127.0.0.28}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  selector: {app: db}
  ports: [{name: tcp-db, port: 5432}]
---
apiVersion: v1
kind: Pod
metadata: {name: db-v1-1, namespace: default, labels: {app: db, version: v1}}
spec: {containers: [{name: db, image: db, ports: [{containerPort: 5432}]}]}
status: {podIP: 127.0.0.31}
---
apiVersion: v1
kind: Pod
metadata: {name: db-v2-1, namespace: default, labels: {app: db, version: v2}}
spec: {containers: [{name: db, image: db, ports: [{containerPort: 5432}]}]}
status: {podIP: 127.0.0.32}
"#;

/// The sidecar's data plane and its xDS flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataPlane {
    /// Real Envoy (SotW, or Delta with `delta`).
    Envoy { delta: bool },
    /// The Strait proxy (Delta, or SotW with `sotw`).
    Strait { sotw: bool },
}

impl DataPlane {
    /// The `--data-plane` value.
    pub fn name(self) -> &'static str {
        match self {
            DataPlane::Envoy { .. } => "envoy",
            DataPlane::Strait { .. } => "strait",
        }
    }

    /// The flag selecting the non-default xDS flavour, if any.
    pub fn xds_flag(self) -> &'static [&'static str] {
        match self {
            DataPlane::Envoy { delta: true } => &["--delta"],
            DataPlane::Strait { sotw: true } => &["--sotw"],
            _ => &[],
        }
    }
}

pub struct Mesh {
    pub dir: PathBuf,
    pub corpus: PathBuf,
    pub outbound: String,
    /// The sidecar's IP (also where capture-free TCP listeners bind).
    pub ip: String,
    pub debug: String,
    /// The control plane's ADS address.
    pub xds: String,
    /// The sidecar's admin address (127.0.0.1:PORT).
    pub admin: String,
    /// The sidecar's Prometheus address (IP:PORT; the Strait proxy serves it).
    pub metrics: String,
    _cp: Option<Guard>,
    _proxy: Guard,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_strait")
}

/// Starts a control plane reading `dir/config`, logging to `dir/control-plane.log`.
fn control_plane(dir: &std::path::Path, xds: &str, debug: &str) -> Guard {
    let mut cp = Command::new(bin());
    cp.args(["control-plane", "--config"]).arg(dir.join("config"));
    cp.args(["--xds-address", xds, "--debug-address", debug]);
    process::spawn("control plane", cp, &dir.join("control-plane.log"))
}

impl Mesh {
    pub fn start(name: &str, corpus: PathBuf) -> Mesh {
        Self::start_with(name, corpus, false)
    }

    /// Starts the mesh; with `delta`, the sidecar uses Delta xDS instead of State-of-the-World.
    pub fn start_with(name: &str, corpus: PathBuf, delta: bool) -> Mesh {
        Self::start_with_data_plane(name, corpus, DataPlane::Envoy { delta })
    }

    /// Starts the mesh with the sidecar running `data_plane`.
    pub fn start_with_data_plane(name: &str, corpus: PathBuf, data_plane: DataPlane) -> Mesh {
        // Each mesh's sidecar gets its own IP: tests run in parallel and TCP services bind the
        // sidecar's IP at the service port.
        static NEXT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(100);
        let ip = format!("127.0.0.{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let dir = std::env::temp_dir().join(format!("strait-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).expect("temp dir");
        std::fs::write(dir.join("config/services.yaml"), SERVICES).expect("fixture");
        let dr = corpus.join("samples/bookinfo/networking/destination-rule-all.yaml");
        std::fs::copy(&dr, dir.join("config/destination-rules.yaml")).expect("copy DR");
        let (xds, debug) = (process::free_port("127.0.0.1"), process::free_port("127.0.0.1"));
        let cp = control_plane(&dir, &format!("127.0.0.1:{xds}"), &format!("127.0.0.1:{debug}"));
        let (admin, health, out) = (process::free_port("127.0.0.1"), process::free_port(&ip), process::free_port(&ip));
        let metrics = process::free_port(&ip);
        let mut proxy = Command::new(bin());
        proxy.args(["proxy", "--data-plane", data_plane.name(), "--xds-address", &format!("127.0.0.1:{xds}")]);
        proxy.args(["--ip", &ip, "--pod", "productpage-v1-1", "--namespace", "default"]);
        proxy.args(["--admin-port", &admin.to_string(), "--health-port", &health.to_string()]);
        proxy.args(["--outbound-port", &out.to_string(), "--log-level", "info"]);
        proxy.args(["--metrics-port", &metrics.to_string()]);
        // Local replies explain themselves (`x-strait-reason`), as in `strait up`.
        proxy.arg("--reason-header");
        proxy.args(data_plane.xds_flag());
        let proxy = process::spawn("sidecar", proxy, &dir.join("sidecar.log"));
        wait_for("sidecar readiness", Duration::from_secs(30), || {
            (curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("http://{ip}:{health}/healthz/ready")]) == "200")
                .then_some(())
        });
        Mesh {
            dir,
            corpus,
            outbound: format!("http://{ip}:{out}"),
            ip: ip.clone(),
            debug: format!("127.0.0.1:{debug}"),
            xds: format!("127.0.0.1:{xds}"),
            admin: format!("127.0.0.1:{admin}"),
            metrics: format!("{ip}:{metrics}"),
            _cp: Some(cp),
            _proxy: proxy,
        }
    }

    /// Stops the control plane (the sidecar keeps its last config), runs `while_down`, then
    /// starts the control plane again on the same addresses.
    pub fn restart_control_plane(&mut self, while_down: impl FnOnce(&Mesh)) {
        drop(self._cp.take());
        while_down(self);
        self._cp = Some(control_plane(&self.dir, &self.xds, &self.debug));
    }

    /// Installs an Istio sample VirtualService file as the routing config and waits until the
    /// sidecar has ACKed it.
    pub fn route(&self, sample: &str) {
        let text =
            std::fs::read_to_string(self.corpus.join("samples/bookinfo/networking").join(sample)).expect("sample");
        self.route_yaml(&text);
    }

    /// Installs `yaml` as the routing config and waits until the sidecar has ACKed it.
    pub fn route_yaml(&self, yaml: &str) {
        self.apply("routes.yaml", yaml);
    }

    /// Writes (or, with empty `yaml`, removes) `file` in the config dir without waiting.
    pub fn write(&self, file: &str, yaml: &str) {
        let path = self.dir.join("config").join(file);
        if yaml.is_empty() {
            let _ = std::fs::remove_file(&path);
        } else {
            std::fs::write(&path, yaml).expect("write config");
        }
    }

    /// Asserts `cond`; on failure the message carries both processes' logs.
    pub fn check(&self, cond: bool, what: &str) {
        // The message comes first and again last: CI shows only the tail of a long failure.
        assert!(
            cond,
            "{what}\n--- control plane (last 80 lines) ---\n{}\n--- sidecar (last 80 lines) ---\n{}\n--- failed: {what}",
            tail(&self.log("control-plane.log"), 80),
            tail(&self.log("sidecar.log"), 80)
        );
    }

    /// `strait proxy-status` output.
    pub fn proxy_status(&self) -> String {
        let out =
            Command::new(bin()).args(["proxy-status", "--control-plane", &self.debug]).output().expect("proxy-status");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes (or, with empty `yaml`, removes) `file` in the config dir and waits for the sync.
    pub fn apply(&self, file: &str, yaml: &str) {
        self.write(file, yaml);
        std::thread::sleep(Duration::from_millis(400));
        wait_for("all proxies SYNCED", Duration::from_secs(10), || self.synced().then_some(()));
    }

    pub fn synced(&self) -> bool {
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
    pub fn reviews(&self, n: usize, headers: &[&str]) -> Vec<String> {
        let mut args = vec!["-x", &self.outbound];
        for h in headers {
            args.extend(["-H", h]);
        }
        let url = format!("http://reviews:9080/?n=[1-{n}]");
        args.push(&url);
        curl(&args).lines().map(str::to_string).collect()
    }

    /// One request to `host` through the sidecar: (status, body, seconds taken).
    pub fn call(&self, host: &str) -> (String, String, f64) {
        let out = curl(&["-x", &self.outbound, "-w", "\n%{http_code} %{time_total}", &format!("http://{host}:9080/")]);
        let (body, tail) = out.rsplit_once('\n').unwrap_or(("", &out));
        let mut parts = tail.split_whitespace();
        let status = parts.next().unwrap_or_default().to_string();
        let secs = parts.next().and_then(|t| t.parse().ok()).unwrap_or(0.0);
        (status, body.trim_end().to_string(), secs)
    }

    /// Removes the temp dir (only on success: on failure the logs stay for reading).
    pub fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Starts the shared upstreams once; returns the reviews v1, v2, v3 handles.
pub fn upstreams() -> &'static [upstream::Upstream] {
    static REVIEWS: std::sync::OnceLock<Vec<upstream::Upstream>> = std::sync::OnceLock::new();
    REVIEWS.get_or_init(|| {
        let reviews = [("127.0.0.21", "v1"), ("127.0.0.22", "v2"), ("127.0.0.23", "v3")].map(|(ip, v)| {
            upstream::spawn(&format!("{ip}:9080"), "reviews", v, Behaviour::default()).expect("upstream binds")
        });
        upstream::spawn("127.0.0.24:9080", "ratings", "v1", Behaviour::default()).expect("upstream binds");
        let slow = Behaviour { delay: Duration::from_secs(2), ..Behaviour::default() };
        upstream::spawn("127.0.0.25:9080", "slow", "v1", slow).expect("upstream binds");
        let flaky = Behaviour { fail_first: 2, ..Behaviour::default() };
        upstream::spawn("127.0.0.26:9080", "flaky", "v1", flaky).expect("upstream binds");
        let broken = Behaviour { fail_first: usize::MAX, ..Behaviour::default() };
        upstream::spawn("127.0.0.27:9080", "bad", "broken", broken).expect("upstream binds");
        upstream::spawn("127.0.0.28:9080", "bad", "healthy", Behaviour::default()).expect("upstream binds");
        upstream::spawn_tcp("127.0.0.31:5432", "db", "v1").expect("upstream binds");
        upstream::spawn_tcp("127.0.0.32:5432", "db", "v2").expect("upstream binds");
        reviews.to_vec()
    })
}

pub fn count(bodies: &[String], needle: &str) -> usize {
    bodies.iter().filter(|b| b.starts_with(needle)).count()
}

/// The `db` TCP service split 80/20 between its v1 and v2 subsets.
pub const TCP_SPLIT: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db}
spec:
  host: db
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db]
  tcp:
  - route:
    - destination: {host: db, subset: v1, port: {number: 5432}}
      weight: 80
    - destination: {host: db, subset: v2, port: {number: 5432}}
      weight: 20
"#;

/// Opens `n` connections to `IP:5432` (the sidecar's TCP listener for `db`); each must greet
/// with `db v1` or `db v2` and echo a line. Returns (v1, v2) counts.
pub fn tcp_split(ip: &str, n: usize) -> Result<(usize, usize), String> {
    use std::io::{BufRead, BufReader, Write};
    let (mut v1, mut v2) = (0, 0);
    for _ in 0..n {
        let stream = std::net::TcpStream::connect(format!("{ip}:5432")).map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reader = BufReader::new(stream.try_clone().map_err(|e| format!("clone: {e}"))?);
        let mut greeting = String::new();
        let _ = reader.read_line(&mut greeting);
        let mut w = stream;
        let _ = w.write_all(b"ping\n");
        let mut echo = String::new();
        let _ = reader.read_line(&mut echo);
        match greeting.trim() {
            "db v1" if echo == "ping\n" => v1 += 1,
            "db v2" if echo == "ping\n" => v2 += 1,
            other => return Err(format!("unexpected greeting {other:?} / echo {echo:?}")),
        }
    }
    Ok((v1, v2))
}
