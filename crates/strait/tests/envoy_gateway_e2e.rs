//! End to end through an ingress gateway with real Envoy: the control plane serves Istio's
//! Bookinfo gateway (read from the corpus in place) plus an HTTPS SIMPLE server whose
//! certificate `openssl` makes at test time; `strait proxy --type router` runs the gateway on
//! 127.0.0.40 and a real upstream plays productpage on 127.0.0.41. curl reaches productpage over
//! plain HTTP on 8080 and over TLS (SNI bookinfo.example.com, checked against the test CA) on
//! 8443. Skips without Envoy or the corpus (fails under CI=true).

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use strait_testkit::process::{self, curl};
use strait_testkit::upstream::{self, Behaviour};

const GATEWAY_IP: &str = "127.0.0.40";
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

/// The HTTPS server and its VirtualService; `DIR` is replaced by the certificate directory.
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

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_strait")
}

/// A self-signed certificate for bookinfo.example.com (also the CA curl trusts).
fn make_certificate(dir: &Path) {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=bookinfo.example.com"])
        .args(["-addext", "subjectAltName=DNS:bookinfo.example.com"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
}

fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

/// Fails with both processes' logs (the temp dir stays for reading).
fn fail(dir: &Path, what: &str) -> ! {
    panic!(
        "{what}\n--- control plane ---\n{}\n--- gateway ---\n{}",
        log(dir, "control-plane.log"),
        log(dir, "gateway.log")
    )
}

#[test]
fn ingress_gateway_http_and_https_through_real_envoy() {
    let (Some(_), Some(corpus)) = (process::envoy(), strait_testkit::istio_corpus()) else { return };
    let dir = std::env::temp_dir().join(format!("strait-e2e-gateway-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config")).expect("temp dir");
    make_certificate(&dir);
    std::fs::write(dir.join("config/services.yaml"), SERVICES).expect("fixture");
    let gateway = corpus.join("samples/bookinfo/networking/bookinfo-gateway.yaml");
    std::fs::copy(&gateway, dir.join("config/bookinfo-gateway.yaml")).expect("copy gateway");
    std::fs::write(dir.join("config/https.yaml"), HTTPS.replace("DIR", &dir.display().to_string())).expect("https");
    upstream::spawn(&format!("{PRODUCTPAGE_IP}:9080"), "productpage", "v1", Behaviour::default()).expect("binds");

    let (xds, debug) = (process::free_port("127.0.0.1"), process::free_port("127.0.0.1"));
    let mut cp = Command::new(bin());
    cp.args(["control-plane", "--config"]).arg(dir.join("config"));
    cp.args(["--xds-address", &format!("127.0.0.1:{xds}"), "--debug-address", &format!("127.0.0.1:{debug}")]);
    let _cp = process::spawn("control plane", cp, &dir.join("control-plane.log"));
    let (admin, health, out) =
        (process::free_port("127.0.0.1"), process::free_port(GATEWAY_IP), process::free_port(GATEWAY_IP));
    let mut gw = Command::new(bin());
    gw.args(["proxy", "--type", "router", "--xds-address", &format!("127.0.0.1:{xds}"), "--ip", GATEWAY_IP]);
    gw.args(["--pod", "istio-ingressgateway-1", "--namespace", "istio-system", "--labels", "istio=ingressgateway"]);
    gw.args(["--admin-port", &admin.to_string(), "--health-port", &health.to_string()]);
    gw.args(["--outbound-port", &out.to_string(), "--log-level", "info"]);
    let _gw = process::spawn("gateway", gw, &dir.join("gateway.log"));

    let http = format!("http://{GATEWAY_IP}:8080/productpage");
    let got = wait_until(|| curl(&[&http]).trim() == "productpage v1");
    if !got {
        fail(&dir, &format!("HTTP through the gateway: {:?}", curl(&["-i", &http])));
    }
    // Only the VirtualService's paths are routed: anything else is a 404 from the gateway.
    let status = curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("http://{GATEWAY_IP}:8080/other")]);
    if status != "404" {
        fail(&dir, &format!("unrouted path: {status}"));
    }

    let resolve = format!("bookinfo.example.com:8443:{GATEWAY_IP}");
    let cacert = dir.join("cert.pem").display().to_string();
    let https = ["--resolve", &resolve, "--cacert", &cacert, "https://bookinfo.example.com:8443/productpage"];
    if !wait_until(|| curl(&https).trim() == "productpage v1") {
        let verbose: Vec<&str> = ["-v"].into_iter().chain(https).collect();
        fail(&dir, &format!("HTTPS through the gateway: {:?}", curl(&verbose)));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Polls `ok` for up to 30 s.
fn wait_until(mut ok: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}
