//! End to end through an ingress gateway with real Envoy: the control plane serves Istio's
//! Bookinfo gateway (read from the corpus in place), an HTTPS SIMPLE server whose certificate
//! files `openssl` makes at test time, and servers whose certificates come from Kubernetes
//! Secrets in the config dir (`credentialName`, served over SDS). `strait proxy --type router`
//! runs the gateway and a real upstream plays productpage on 127.0.0.41. curl reaches
//! productpage over plain HTTP on 8080 and over TLS on 8443 (checked against the test CA);
//! rewriting the Secret makes new connections see the new certificate within 2 s with no
//! listener change; a server naming a missing Secret is not served while the others are, and
//! comes up when the Secret appears; Envoy never NACKs; `strait proxy-config secret` shows
//! the certificate's serial and never a key. Runs over SotW and over Delta xDS. Skips without
//! Envoy or the corpus (fails under CI=true).

mod common;

use common::bin;
use common::gateway::{make_certificate, secret_yaml, wait_until, write_config};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use strait_testkit::process::{self, Guard, curl};
use strait_testkit::upstream::{self, Behaviour};

const PRODUCTPAGE_IP: &str = "127.0.0.41";

const SERVICES: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: productpage, namespace: default}
spec:
  selector: {app: productpage}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Pod
metadata: {name: productpage-v1-1, namespace: default, labels: {app: productpage, version: v1}}
spec: {containers: [{name: productpage, image: productpage, ports: [{containerPort: 9080}]}]}
status: {podIP: 127.0.0.41}
"#;

/// The file-based HTTPS server and its VirtualService; `DIR` is the certificate directory.
const HTTPS: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-https, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [bookinfo.example.com]
    tls: {mode: SIMPLE, serverCertificate: DIR/cert.pem, privateKey: DIR/key.pem}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bookinfo-https, namespace: default}
spec:
  hosts: [bookinfo.example.com]
  gateways: [bookinfo-https]
  http:
  - match: [{uri: {exact: /productpage}}]
    route: [{destination: {host: productpage, port: {number: 9080}}}]
"#;

/// Servers whose certificates are Secrets in the gateway's own namespace (istio-system, not
/// the Gateway's); `missing-cred` does not exist at first.
const SDS: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: secure-sds, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https-sds, protocol: HTTPS}
    hosts: [secure.example.com]
    tls: {mode: SIMPLE, credentialName: secure-cred}
  - port: {number: 8443, name: https-missing, protocol: HTTPS}
    hosts: [missing.example.com]
    tls: {mode: SIMPLE, credentialName: missing-cred}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: secure-sds, namespace: default}
spec:
  hosts: [secure.example.com, missing.example.com]
  gateways: [secure-sds]
  http:
  - match: [{uri: {exact: /productpage}}]
    route: [{destination: {host: productpage, port: {number: 9080}}}]
"#;

struct Gateway {
    dir: PathBuf,
    ip: &'static str,
    debug: String,
    admin: u16,
    _cp: Guard,
    _gw: Guard,
}

impl Gateway {
    /// Control plane plus `strait proxy --type router` on `ip`, with the config files written.
    fn start(tag: &str, ip: &'static str, delta: bool, corpus: &Path) -> Gateway {
        let dir = std::env::temp_dir().join(format!("strait-e2e-gateway-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).expect("temp dir");
        make_certificate(&dir, "cert", "bookinfo.example.com", "bookinfo.example.com");
        std::fs::rename(dir.join("cert-key.pem"), dir.join("key.pem")).expect("key");
        std::fs::write(dir.join("config/services.yaml"), SERVICES).expect("fixture");
        let gateway = corpus.join("samples/bookinfo/networking/bookinfo-gateway.yaml");
        std::fs::copy(&gateway, dir.join("config/bookinfo-gateway.yaml")).expect("copy gateway");
        std::fs::write(dir.join("config/https.yaml"), HTTPS.replace("DIR", &dir.display().to_string())).expect("x");
        std::fs::write(dir.join("config/sds.yaml"), SDS).expect("sds");
        let v1 = make_certificate(&dir, "secure-v1", "secure-v1", "secure.example.com");
        write_config(&dir, "secure-cred.yaml", &secret_yaml("secure-cred", &v1));
        static UPSTREAM: std::sync::OnceLock<()> = std::sync::OnceLock::new();
        UPSTREAM.get_or_init(|| {
            let addr = format!("{PRODUCTPAGE_IP}:9080");
            upstream::spawn(&addr, "productpage", "v1", Behaviour::default()).expect("binds");
        });

        let (xds, debug) = (process::free_port("127.0.0.1"), process::free_port("127.0.0.1"));
        let mut cp = Command::new(bin());
        cp.args(["control-plane", "--config"]).arg(dir.join("config"));
        cp.args(["--xds-address", &format!("127.0.0.1:{xds}"), "--debug-address", &format!("127.0.0.1:{debug}")]);
        let _cp = process::spawn("control plane", cp, &dir.join("control-plane.log"));
        let (admin, health, out) = (process::free_port("127.0.0.1"), process::free_port(ip), process::free_port(ip));
        let mut gw = Command::new(bin());
        gw.args([
            "proxy",
            "--type",
            "router",
            "--data-plane",
            "envoy",
            "--xds-address",
            &format!("127.0.0.1:{xds}"),
            "--ip",
            ip,
        ]);
        gw.args(["--pod", "istio-ingressgateway-1", "--namespace", "istio-system", "--labels", "istio=ingressgateway"]);
        gw.args(["--admin-port", &admin.to_string(), "--health-port", &health.to_string()]);
        gw.args(["--outbound-port", &out.to_string(), "--log-level", "info"]);
        if delta {
            gw.arg("--delta");
        }
        let _gw = process::spawn("gateway", gw, &dir.join("gateway.log"));
        Gateway { dir, ip, debug: format!("127.0.0.1:{debug}"), admin, _cp, _gw }
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// Fails with both processes' logs (the temp dir stays for reading).
    fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\n--- control plane ---\n{}\n--- gateway ---\n{}\n--- failed: {what}",
            self.log("control-plane.log"),
            self.log("gateway.log")
        )
    }

    fn check(&self, ok: bool, what: &str) {
        if !ok {
            self.fail(what);
        }
    }

    /// `curl https://HOST:8443/productpage` on the gateway with `extra` arguments.
    fn https(&self, host: &str, extra: &[&str]) -> Vec<String> {
        let resolve = format!("{host}:8443:{}", self.ip);
        let url = format!("https://{host}:8443/productpage");
        let mut args: Vec<String> = vec!["--resolve".into(), resolve];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(url);
        args
    }

    /// The common name of the certificate the gateway serves for `host`, if it completes a
    /// handshake at all (a fresh connection each time).
    fn served_cn(&self, host: &str) -> Option<String> {
        common::gateway::served_cn(self.ip, 8443, host)
    }

    /// The body of productpage over HTTPS, verified against `ca`.
    fn body(&self, host: &str, ca: &Path) -> String {
        let args = self.https(host, &["--cacert", &ca.display().to_string()]);
        curl(&args.iter().map(String::as_str).collect::<Vec<_>>()).trim().to_string()
    }

    fn admin_stat(&self, name: &str) -> String {
        curl(&[&format!("http://127.0.0.1:{}/stats?filter=^{name}$", self.admin)]).trim().to_string()
    }

    /// No NACK anywhere: proxy-status lists none and the control plane counted none.
    fn assert_no_nack(&self) {
        let status = Command::new(bin()).args(["proxy-status", "--control-plane", &self.debug]).output().expect("ps");
        let status = String::from_utf8_lossy(&status.stdout).into_owned();
        let metrics = curl(&[&format!("http://{}/metrics", self.debug)]);
        self.check(!status.contains("NACK"), &format!("a NACK:\n{status}"));
        self.check(metrics.contains("pilot_total_xds_rejects 0"), &format!("rejects counted:\n{metrics}"));
    }
}

/// Certificates from Secrets: served, rotated in place, a missing one isolated then added,
/// then removed again, never a NACK.
fn secrets_over_sds(gw: &Gateway) {
    let secure_v1 = gw.dir.join("secure-v1.pem");
    let served = wait_until(30, || gw.body("secure.example.com", &secure_v1) == "productpage v1");
    gw.check(served.is_some(), &format!("HTTPS from a Secret: {:?}", gw.served_cn("secure.example.com")));
    gw.check(gw.served_cn("secure.example.com").as_deref() == Some("secure-v1"), "the Secret's certificate");
    // The server naming a missing Secret is not served; its neighbours on 8443 are.
    gw.check(gw.served_cn("missing.example.com").is_none(), "a server without its Secret must not be served");
    gw.check(gw.body("bookinfo.example.com", &gw.dir.join("cert.pem")) == "productpage v1", "file-based neighbour");
    let cp_log = gw.log("control-plane.log");
    let warned = cp_log.lines().any(|l| {
        l.contains("default/secure-sds") && l.contains("https-missing") && l.contains("kubernetes://missing-cred")
    });
    gw.check(warned, "the control plane must warn about the missing Secret, naming gateway, server and secret");

    // Rotation: a new certificate in the same Secret reaches new connections, listener untouched.
    let modified = gw.admin_stat("listener_manager.listener_modified");
    let v2 = make_certificate(&gw.dir, "secure-v2", "secure-v2", "secure.example.com");
    write_config(&gw.dir, "secure-cred.yaml", &secret_yaml("secure-cred", &v2));
    let took = wait_until(10, || gw.served_cn("secure.example.com").as_deref() == Some("secure-v2"));
    match took {
        Some(t) => {
            eprintln!("{}: a rewritten Secret reached new connections in {t:?}", gw.ip);
            gw.check(t < Duration::from_secs(2), &format!("rotation took {t:?}; want under 2 s"));
        }
        None => gw.fail("the rewritten Secret never reached Envoy"),
    }
    gw.check(gw.body("secure.example.com", &v2.0) == "productpage v1", "the rotated certificate verifies");
    gw.check(gw.admin_stat("listener_manager.listener_modified") == modified, "rotation must not touch listeners");

    // The missing Secret appears: its server comes up; it goes away: the server goes down.
    let missing = make_certificate(&gw.dir, "missing", "missing-v1", "missing.example.com");
    write_config(&gw.dir, "missing-cred.yaml", &secret_yaml("missing-cred", &missing));
    let up = wait_until(10, || gw.served_cn("missing.example.com").as_deref() == Some("missing-v1"));
    gw.check(up.is_some(), "a Secret added later brings its server up");
    std::fs::remove_file(gw.dir.join("config/missing-cred.yaml")).expect("remove");
    let down = wait_until(10, || gw.served_cn("missing.example.com").is_none());
    gw.check(down.is_some(), "a deleted Secret takes its server down");
    gw.check(gw.served_cn("secure.example.com").as_deref() == Some("secure-v2"), "the others stay up");
    std::thread::sleep(Duration::from_millis(500));
    gw.assert_no_nack();
}

/// `strait proxy-config secret`: names, type, serial and validity; never key material.
fn proxy_config_secret(gw: &Gateway) {
    let run = |extra: &[&str]| {
        let out = Command::new(bin())
            .args(["proxy-config", "secret", "istio-ingressgateway-1.istio-system", "--control-plane", &gw.debug])
            .args(extra)
            .output()
            .expect("proxy-config");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let table = run(&[]);
    let serial = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(gw.dir.join("secure-v2.pem"))
        .output()
        .expect("openssl");
    let serial = String::from_utf8_lossy(&serial.stdout)
        .trim()
        .trim_start_matches("serial=")
        .trim_start_matches('0')
        .to_ascii_lowercase();
    let row = table.lines().find(|l| l.starts_with("kubernetes://secure-cred")).unwrap_or_default();
    let cols: Vec<&str> = row.split_whitespace().collect();
    let want = ["kubernetes://secure-cred", "Cert", "Chain", "ACTIVE", "true", serial.as_str()];
    gw.check(cols.len() == 8 && cols[..6] == want, &format!("proxy-config secret:\n{table}"));
    let key = std::fs::read_to_string(gw.dir.join("secure-v2-key.pem")).expect("key");
    let key_line = key.lines().nth(1).unwrap_or("unused");
    let json = run(&["-o", "json"]);
    for out in [&table, &json] {
        gw.check(!out.contains("PRIVATE KEY") && !out.contains(key_line), &format!("key material printed:\n{out}"));
    }
    gw.check(json.contains("kubernetes://secure-cred"), &format!("json lists the secret:\n{json}"));
}

#[test]
fn ingress_gateway_http_https_and_sds_through_real_envoy() {
    let (Some(_), Some(corpus)) = (process::envoy(), strait_testkit::istio_corpus()) else { return };
    let gw = Gateway::start("sotw", "127.0.0.40", false, &corpus);
    let http = format!("http://{}:8080/productpage", gw.ip);
    if wait_until(30, || curl(&[&http]).trim() == "productpage v1").is_none() {
        gw.fail(&format!("HTTP through the gateway: {:?}", curl(&["-i", &http])));
    }
    // Only the VirtualService's paths are routed: anything else is a 404 from the gateway.
    let status = curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("http://{}:8080/other", gw.ip)]);
    gw.check(status == "404", &format!("unrouted path: {status}"));
    let cert = gw.dir.join("cert.pem");
    if wait_until(30, || gw.body("bookinfo.example.com", &cert) == "productpage v1").is_none() {
        gw.fail(&format!("HTTPS through the gateway: {:?}", gw.served_cn("bookinfo.example.com")));
    }
    secrets_over_sds(&gw);
    proxy_config_secret(&gw);
    let _ = std::fs::remove_dir_all(&gw.dir);
}

#[test]
fn sds_over_delta_xds() {
    let (Some(_), Some(corpus)) = (process::envoy(), strait_testkit::istio_corpus()) else { return };
    let gw = Gateway::start("delta", "127.0.0.42", true, &corpus);
    secrets_over_sds(&gw);
    let _ = std::fs::remove_dir_all(&gw.dir);
}
