//! One sidecar with its own control plane, on an address of this test binary's own range
//! (127.0.0.71–79; the recorder is 127.0.0.70): the `recorder` Service, a client Pod, and
//! `strait proxy --data-plane envoy|strait` for that Pod, ready once a request through its
//! capture-free outbound listener reaches the recorder.

use crate::common::{DataPlane, bin, tail};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use strait_testkit::process::{self, Guard, curl};

fn services(ip: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: recorder, namespace: default}}
spec:
  selector: {{app: recorder}}
  ports: [{{name: http, port: 9080}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: recorder-1, namespace: default, labels: {{app: recorder}}}}
spec: {{containers: [{{name: recorder, image: recorder, ports: [{{containerPort: 9080}}]}}]}}
status: {{podIP: 127.0.0.70}}
---
apiVersion: v1
kind: Pod
metadata: {{name: client-1, namespace: default, labels: {{app: client}}}}
spec: {{containers: [{{name: client, image: client}}]}}
status: {{podIP: {ip}}}
"#
    )
}

/// A running sidecar and its control plane (both killed on drop).
pub struct Sidecar {
    /// Which data plane.
    pub plane: DataPlane,
    /// The outbound (capture-free HTTP proxy) listener.
    pub outbound: SocketAddr,
    /// The `strait proxy` process.
    pub proxy: Guard,
    /// The admin API (`127.0.0.1:PORT`).
    pub admin: String,
    dir: PathBuf,
    _cp: Guard,
}

impl Sidecar {
    /// Starts `plane` as pod `client-1` on `ip` and waits until it proxies to the recorder.
    pub fn start(name: &str, plane: DataPlane, ip: &str) -> Sidecar {
        let dir = process::tempdir(&format!("hardening-{name}"));
        std::fs::create_dir_all(dir.join("config")).expect("config dir");
        std::fs::write(dir.join("config/services.yaml"), services(ip)).expect("services");
        let (xds, debug) = (process::free_port("127.0.0.1"), process::free_port("127.0.0.1"));
        let mut cp = Command::new(bin());
        cp.args(["control-plane", "--config"]).arg(dir.join("config"));
        cp.args(["--xds-address", &format!("127.0.0.1:{xds}"), "--debug-address", &format!("127.0.0.1:{debug}")]);
        let cp = process::spawn("control plane", cp, &dir.join("control-plane.log"));
        let (admin, health, out) = (process::free_port("127.0.0.1"), process::free_port(ip), process::free_port(ip));
        let mut proxy = Command::new(bin());
        proxy.args(["proxy", "--data-plane", plane.name(), "--xds-address", &format!("127.0.0.1:{xds}")]);
        proxy.args(["--ip", ip, "--pod", "client-1", "--namespace", "default"]);
        proxy.args(["--admin-port", &admin.to_string(), "--health-port", &health.to_string()]);
        proxy.args(["--outbound-port", &out.to_string(), "--metrics-port", "0", "--log-level", "info"]);
        let proxy = process::spawn("sidecar", proxy, &dir.join("sidecar.log"));
        let outbound: SocketAddr = format!("{ip}:{out}").parse().expect("address");
        let sidecar = Sidecar { plane, outbound, proxy, admin: format!("127.0.0.1:{admin}"), dir, _cp: cp };
        let proxied = || curl(&["-x", &format!("http://{outbound}"), "http://recorder:9080/ready"]) == "recorder ok\n";
        let ready = std::time::Instant::now();
        while !proxied() {
            sidecar.check(ready.elapsed() < Duration::from_secs(30), "the sidecar proxies to the recorder within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        sidecar
    }

    /// `envoy` or `strait`.
    pub fn label(&self) -> &'static str {
        self.plane.name()
    }

    /// The sidecar's output (log lines and access log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sidecar.log")).unwrap_or_default()
    }

    /// Asserts `cond`; on failure the message carries the sidecar's log.
    pub fn check(&self, cond: bool, what: &str) {
        assert!(
            cond,
            "{}: {what}\n--- sidecar (last 60 lines) ---\n{}\n--- failed: {what}",
            self.label(),
            tail(&self.log(), 60)
        );
    }

    /// Waits until the access log has a line containing every one of `needles`.
    pub fn logged(&self, what: &str, needles: &[&str]) {
        let found = || self.log().lines().any(|l| needles.iter().all(|n| l.contains(n)));
        let start = std::time::Instant::now();
        while !found() {
            self.check(start.elapsed() < Duration::from_secs(5), &format!("access log: {what} ({needles:?})"));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the `strait proxy` process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.proxy.child.try_wait(), Ok(None))
    }

    /// A plain GET through the outbound listener: status code (000 when none).
    pub fn get(&self, path: &str) -> String {
        curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-x",
            &format!("http://{}", self.outbound),
            &format!("http://recorder:9080{path}"),
        ])
    }

    /// An admin API call: (status, body).
    pub fn admin(&self, method: &str, path: &str) -> (String, String) {
        let out = curl(&["-X", method, "-w", "\n%{http_code}", &format!("http://{}{path}", self.admin)]);
        let (body, status) = out.rsplit_once('\n').unwrap_or(("", &out));
        (status.to_string(), body.trim_end().to_string())
    }

    /// Removes the temp dir (only on success: on failure the logs stay for reading).
    pub fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
