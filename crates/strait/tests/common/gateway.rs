//! Gateway fixtures shared by the gateway tests (`envoy_gateway_e2e`, the conformance suite's
//! gateway scenarios): certificates made with `openssl` at test time (self-signed, or issued
//! by a test CA for mutual TLS; P-256 keys, quick to make), `kubernetes.io/tls` Secrets in
//! istio-system holding them, atomic config writes, a router (`strait proxy --type router`)
//! on either data plane, and what a TLS client sees (the served certificate's common name).

use super::{DataPlane, Guard, bin, curl, process};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A certificate and its key, as files.
pub type Pair = (PathBuf, PathBuf);

/// Runs `openssl` with the argument groups concatenated.
fn openssl(groups: &[&[&str]]) {
    let args = groups.concat();
    let out = Command::new("openssl").args(&args).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A new P-256 key (quick to make; Envoy and rustls both serve it).
const EC_KEY: [&str; 5] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/// A self-signed certificate for `host` with common name `cn` (also the CA curl trusts):
/// `DIR/TAG.pem` and `DIR/TAG-key.pem`.
pub fn make_certificate(dir: &Path, tag: &str, cn: &str, host: &str) -> Pair {
    let (cert, key) = (dir.join(format!("{tag}.pem")), dir.join(format!("{tag}-key.pem")));
    let (subj, san) = (format!("/CN={cn}"), format!("subjectAltName=DNS:{host}"));
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    openssl(&[&["req", "-x509", "-days", "1"], &EC_KEY, &["-subj", &subj, "-addext", &san, "-keyout", &k, "-out", &c]]);
    (cert, key)
}

/// A test certificate authority (for client certificates and CA-issued server ones).
pub struct Ca {
    pub cert: PathBuf,
    key: PathBuf,
    dir: PathBuf,
}

impl Ca {
    /// A new self-signed CA `DIR/TAG.pem` with common name `cn`.
    pub fn new(dir: &Path, tag: &str, cn: &str) -> Ca {
        let (cert, key) = (dir.join(format!("{tag}.pem")), dir.join(format!("{tag}-key.pem")));
        let (c, k, subj) = (cert.display().to_string(), key.display().to_string(), format!("/CN={cn}"));
        let ca = "basicConstraints=critical,CA:TRUE";
        openssl(&[
            &["req", "-x509", "-days", "1"],
            &EC_KEY,
            &["-subj", &subj, "-addext", ca, "-keyout", &k, "-out", &c],
        ]);
        Ca { cert, key, dir: dir.to_path_buf() }
    }

    /// A v3 certificate for `host` (DNS SAN; server and client use) signed by this CA.
    pub fn issue(&self, tag: &str, cn: &str, host: &str) -> Pair {
        let dir = &self.dir;
        let (cert, key, csr, ext) = (
            dir.join(format!("{tag}.pem")),
            dir.join(format!("{tag}-key.pem")),
            dir.join(format!("{tag}.csr")),
            dir.join(format!("{tag}.ext")),
        );
        std::fs::write(&ext, format!("subjectAltName=DNS:{host}\nextendedKeyUsage=serverAuth,clientAuth\n"))
            .expect("ext");
        let s = |p: &PathBuf| p.display().to_string();
        let subj = format!("/CN={cn}");
        openssl(&[&["req"], &EC_KEY, &["-subj", &subj, "-keyout", &s(&key), "-out", &s(&csr)]]);
        let (ca, ca_key) = (s(&self.cert), s(&self.key));
        openssl(&[
            &["x509", "-req", "-in", &s(&csr), "-CA", &ca, "-CAkey", &ca_key, "-CAcreateserial", "-days", "1"],
            &["-extfile", &s(&ext), "-out", &s(&cert)],
        ]);
        (cert, key)
    }
}

fn indent(p: &Path) -> String {
    let text = std::fs::read_to_string(p).expect("pem");
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// A `kubernetes.io/tls` Secret in istio-system holding the PEM files (as `stringData`).
pub fn secret_yaml(name: &str, (cert, key): &Pair) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: istio-system}}\ntype: kubernetes.io/tls\n\
         stringData:\n  tls.crt: |\n{}  tls.key: |\n{}",
        indent(cert),
        indent(key)
    )
}

/// [`secret_yaml`] with a `ca.crt` too (Istio serves it as `kubernetes://NAME-cacert`).
pub fn secret_yaml_with_ca(name: &str, pair: &Pair, ca: &Path) -> String {
    format!("{}  ca.crt: |\n{}", secret_yaml(name, pair), indent(ca))
}

/// Replaces `file` in `DIR/config` in one step (rename), so the watcher never reads half a
/// file; empty `text` removes it.
pub fn write_config(dir: &Path, file: &str, text: &str) {
    let target = dir.join("config").join(file);
    if text.is_empty() {
        let _ = std::fs::remove_file(target);
        return;
    }
    let tmp = dir.join(format!("{file}.tmp"));
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, target).expect("rename");
}

/// A running router.
pub struct Router {
    /// Its IP (listeners bind there).
    pub ip: String,
    /// Its admin address (127.0.0.1:PORT).
    pub admin: String,
    /// Its log (Envoy's or the Strait proxy's output, access log included).
    pub log: PathBuf,
    health: String,
    _guard: Guard,
}

impl Router {
    /// Starts `strait proxy --type router --data-plane DP` for pod `istio-ingressgateway-N` in
    /// istio-system (label `istio=ingressgateway`) on `ip`, against the ADS server `xds`,
    /// logging to `DIR/LOG`. Does not wait: see [`Router::ready`].
    pub fn start(dir: &Path, log: &str, xds: &str, ip: &str, dp: DataPlane) -> Router {
        let (admin, health, out) = (process::free_port("127.0.0.1"), process::free_port(ip), process::free_port(ip));
        let pod = format!("istio-ingressgateway-{}", dp.name());
        let mut gw = Command::new(bin());
        gw.args(["proxy", "--type", "router", "--data-plane", dp.name(), "--xds-address", xds, "--ip", ip]);
        gw.args(["--pod", &pod, "--namespace", "istio-system", "--labels", "istio=ingressgateway"]);
        gw.args(["--admin-port", &admin.to_string(), "--health-port", &health.to_string()]);
        gw.args(["--outbound-port", &out.to_string(), "--metrics-port", "0", "--log-level", "info"]);
        gw.args(dp.xds_flag());
        let log = dir.join(log);
        let guard = process::spawn("router", gw, &log);
        Router {
            ip: ip.to_string(),
            admin: format!("127.0.0.1:{admin}"),
            log,
            health: format!("http://{ip}:{health}/healthz/ready"),
            _guard: guard,
        }
    }

    /// Waits up to `secs` for readiness (`/healthz/ready` 200).
    pub fn ready(&self, secs: u64) -> bool {
        wait_until(secs, || curl(&["-o", "/dev/null", "-w", "%{http_code}", &self.health]) == "200").is_some()
    }

    /// The router's output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (up to 5 s) for the access log line containing every needle; returns it.
    pub fn logged(&self, needles: &[&str]) -> Option<String> {
        let mut found = None;
        wait_until(5, || {
            found = self.output().lines().rev().find(|l| needles.iter().all(|n| l.contains(n))).map(str::to_string);
            found.is_some()
        });
        found
    }
}

/// Polls `ok` every 50 ms for up to `secs` seconds; returns the time it took.
pub fn wait_until(secs: u64, mut ok: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if ok() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// The common name of the certificate served to a fresh TLS connection to `ip:port` with SNI
/// `host` (curl, not verifying), or None when no handshake completes.
pub fn served_cn(ip: &str, port: u16, host: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sv", "-k", "-o", "/dev/null", "--max-time", "5", "--resolve", &format!("{host}:{port}:{ip}")])
        .arg(format!("https://{host}:{port}/"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    let line = text.lines().find(|l| l.trim_start_matches(['*', ' ']).starts_with("subject:"))?;
    line.split("CN=").nth(1).map(|cn| cn.split([',', '/']).next().unwrap_or(cn).trim().to_string())
}
