//! TLS at the gateway: HTTPS SIMPLE with certificates from files and from a `credentialName`
//! Secret (SDS), chosen by SNI, HTTP/2 or HTTP/1.1 by ALPN; MUTUAL (client certificates
//! checked against the Secret's `ca.crt`); a Secret rewritten in place reaching new
//! connections without a listener change, and a server whose Secret is missing left out until
//! it appears; PASSTHROUGH routed by SNI to a backend that terminates TLS itself, and a TLS
//! server terminating at the gateway in front of a TCP route. Certificates
//! are made per scenario under the mesh's directory.

use super::*;
use crate::common::gateway::{Ca, Pair, secret_yaml, secret_yaml_with_ca, served_cn, write_config};
use std::path::PathBuf;

fn pki(c: &Ctx) -> PathBuf {
    let dir = c.mesh.dir.join("pki");
    std::fs::create_dir_all(&dir).expect("pki dir");
    dir
}

fn path(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// An HTTPS Gateway on 8443 with `servers` (YAML list items) and a VirtualService routing
/// `hosts` to `gw-a`.
fn https_gateway(servers: &str, hosts: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: https, namespace: default}}\n\
         spec:\n  selector: {{istio: ingressgateway}}\n  servers:\n{servers}---\n\
         apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: https, namespace: default}}\n\
         spec:\n  hosts: [{hosts}]\n  gateways: [https]\n  http:\n\
         \x20 - route: [{{destination: {{host: gw-a, port: {{number: 9080}}}}}}]\n"
    )
}

fn server(name: &str, host: &str, tls: &str) -> String {
    format!("  - port: {{number: 8443, name: {name}, protocol: HTTPS}}\n    hosts: [{host}]\n    tls: {tls}\n")
}

impl Stage<'_> {
    /// `curl https://HOST:PORT/PATH` through the router, trusting `ca`: ("STATUS hVERSION", body).
    fn https(&self, host: &str, port: u16, path: &str, ca: &std::path::Path, extra: &[&str]) -> (String, String) {
        let resolve = format!("{host}:{port}:{}", self.router.ip);
        let mut args = vec!["--resolve", &resolve, "--cacert", ca.to_str().unwrap_or_default()];
        args.extend_from_slice(extra);
        args.extend(["-w", "\n%{http_code} h%{http_version}"]);
        self.curl(&args, &format!("https://{host}:{port}{path}"))
    }

    fn cn(&self, host: &str, port: u16) -> String {
        served_cn(&self.router.ip, port, host).unwrap_or_else(|| "none".into())
    }
}

pub fn https_simple(c: &Ctx) -> Outcome {
    let dir = pki(c);
    let ca = Ca::new(&dir, "simple-ca", "simple-ca");
    let files = ca.issue("files", "files", "files.example.com");
    let secure = ca.issue("secure", "secure-v1", "secure.example.com");
    let servers = server(
        "https-files",
        "files.example.com",
        &format!("{{mode: SIMPLE, serverCertificate: {}, privateKey: {}}}", path(&files.0), path(&files.1)),
    ) + &server("https-sds", "secure.example.com", "{mode: SIMPLE, credentialName: gw-secure}");
    let s = Stage::start(
        c,
        &[
            ("gw-secure.yaml", secret_yaml("gw-secure", &secure)),
            ("gateway.yaml", https_gateway(&servers, "files.example.com, secure.example.com")),
        ],
    )?;
    let up = wait_until(10, || s.https("files.example.com", 8443, "/", &ca.cert, &[]).0 == "200 h2");
    s.ensure(up.is_some(), || {
        format!("HTTPS through the gateway: {:?}", s.https("files.example.com", 8443, "/", &ca.cert, &[]))
    })?;
    let mut seen = Vec::new();
    for (host, extra) in
        [("files.example.com", &[][..]), ("files.example.com", &["--http1.1"][..]), ("secure.example.com", &[][..])]
    {
        let (status, body) = s.https(host, 8443, "/s?c=simple", &ca.cert, extra);
        let proto = echoed(&body, "x-forwarded-proto");
        s.ensure(status.starts_with("200 "), || format!("{host} {extra:?}: {status} {body}"))?;
        seen.push(format!("{host}{} → {status} cert={} proto={proto}", extra.join(""), s.cn(host, 8443)));
    }
    let logged = s.access(&["/s?c=simple HTTP/2", "secure.example.com "])?;
    let (status, _) = s.https("other.example.com", 8443, "/", &ca.cert, &["-k"]);
    s.ensure(status.starts_with("000"), || format!("an SNI no server names must not be served: {status}"))?;
    Ok(format!("{}; log {logged}; other SNI → {status} (no chain)", seen.join("; ")))
}

pub fn https_mutual(c: &Ctx) -> Outcome {
    let dir = pki(c);
    let (ca, rogue) = (Ca::new(&dir, "mutual-ca", "mutual-ca"), Ca::new(&dir, "rogue-ca", "rogue-ca"));
    let serving = ca.issue("mutual", "mutual", "mutual.example.com");
    let client = ca.issue("client", "client", "client.example.com");
    let stranger = rogue.issue("stranger", "client", "client.example.com");
    let servers = server("https-mutual", "mutual.example.com", "{mode: MUTUAL, credentialName: gw-mutual}");
    let s = Stage::start(
        c,
        &[
            ("gw-mutual.yaml", secret_yaml_with_ca("gw-mutual", &serving, &ca.cert)),
            ("gateway.yaml", https_gateway(&servers, "mutual.example.com")),
        ],
    )?;
    let with = |(cert, key): &Pair| vec!["--cert".to_string(), path(cert), "--key".to_string(), path(key)];
    let call = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        s.https("mutual.example.com", 8443, "/m?c=mutual", &ca.cert, &args).0
    };
    let up = wait_until(10, || call(&with(&client)).starts_with("200 "));
    s.ensure(up.is_some(), || format!("MUTUAL with a client certificate: {}", call(&with(&client))))?;
    let logged = s.access(&["/m?c=mutual", "mutual.example.com "])?;
    let (none, foreign) = (call(&[]), call(&with(&stranger)));
    s.ensure(none.starts_with("000") && foreign.starts_with("000"), || {
        format!("refused without a client certificate ({none}) and with one from another CA ({foreign})")
    })?;
    Ok(format!("client certificate → 200 (log {logged}); none → {none}; another CA's → {foreign}"))
}

pub fn secret_rotation(c: &Ctx) -> Outcome {
    let dir = pki(c);
    let ca = Ca::new(&dir, "rot-ca", "rot-ca");
    let (v1, v2) = (ca.issue("rot-v1", "rot-v1", "rot.example.com"), ca.issue("rot-v2", "rot-v2", "rot.example.com"));
    let missing = ca.issue("missing", "missing-v1", "missing.example.com");
    let servers = server("https-rot", "rot.example.com", "{mode: SIMPLE, credentialName: gw-rot}")
        + &server("https-missing", "missing.example.com", "{mode: SIMPLE, credentialName: gw-missing}");
    let s = Stage::start(
        c,
        &[
            ("gw-rot.yaml", secret_yaml("gw-rot", &v1)),
            ("gateway.yaml", https_gateway(&servers, "rot.example.com, missing.example.com")),
            ("gw-missing.yaml", String::new()),
        ],
    )?;
    let up = wait_until(10, || s.cn("rot.example.com", 8443) == "rot-v1");
    s.ensure(up.is_some(), || format!("the Secret's certificate: {}", s.cn("rot.example.com", 8443)))?;
    s.ensure(s.cn("missing.example.com", 8443) == "none", || "a server without its Secret must not be served".into())?;
    let listeners = listener_changes(&s);
    write_config(&c.mesh.dir, "gw-rot.yaml", &secret_yaml("gw-rot", &v2));
    let took = wait_until(10, || s.cn("rot.example.com", 8443) == "rot-v2");
    let took = took.ok_or_else(|| s.fail("the rewritten Secret never reached new connections"))?;
    println!("[{}] a rewritten Secret reached new connections in {took:?}", c.dp.name());
    s.ensure(took < Duration::from_secs(2), || format!("rotation took {took:?}; want under 2 s"))?;
    let (status, _) = s.https("rot.example.com", 8443, "/", &ca.cert, &[]);
    s.ensure(status.starts_with("200 "), || format!("the rotated certificate verifies: {status}"))?;
    s.ensure(listener_changes(&s) == listeners, || {
        format!("rotation touched listeners: {listeners} → {}", listener_changes(&s))
    })?;
    write_config(&c.mesh.dir, "gw-missing.yaml", &secret_yaml("gw-missing", &missing));
    let added = wait_until(10, || s.cn("missing.example.com", 8443) == "missing-v1");
    s.ensure(added.is_some(), || "a Secret added later brings its server up".into())?;
    Ok("rot-v1 → rot-v2 on new connections within 2 s, listeners untouched; missing Secret: server not served, \
        served once the Secret appears"
        .into())
}

/// How often the router changed listeners: Envoy's `listener_manager.listener_modified`, the
/// Strait proxy's "listener bound/closed" log lines.
fn listener_changes(s: &Stage<'_>) -> String {
    if s.c.is_envoy() {
        curl(&[&format!("http://{}/stats?filter=^listener_manager.listener_modified$", s.router.admin)])
            .trim()
            .to_string()
    } else {
        let out = s.router.output();
        format!(
            "{} binds",
            out.lines().filter(|l| l.contains("listener bound") || l.contains("listener closed")).count()
        )
    }
}

const PASSTHROUGH: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: passthrough, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 9443, name: tls-pass, protocol: TLS}
    hosts: [pass.example.com]
    tls: {mode: PASSTHROUGH}
  - port: {number: 9444, name: tls-term, protocol: TLS}
    hosts: [term.example.com]
    tls: {mode: SIMPLE, credentialName: gw-term}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: passthrough, namespace: default}
spec:
  hosts: [pass.example.com]
  gateways: [passthrough]
  tls:
  - match: [{port: 9443, sniHosts: [pass.example.com]}]
    route: [{destination: {host: gw-tls, port: {number: 8443}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: terminated, namespace: default}
spec:
  hosts: [term.example.com]
  gateways: [passthrough]
  tcp:
  - match: [{port: 9444}]
    route: [{destination: {host: gw-b, port: {number: 9080}}}]
"#;

pub fn passthrough(c: &Ctx) -> Outcome {
    let dir = pki(c);
    let ca = Ca::new(&dir, "pass-ca", "pass-ca");
    let (cert, key) = ca.issue("backend", "backend", "pass.example.com");
    let backend = format!("{}:8443", tls_backend_ip(c));
    let mut cmd = Command::new("openssl");
    cmd.args(["s_server", "-accept", &backend, "-cert", &path(&cert), "-key", &path(&key), "-www"]);
    let _backend = process::spawn("TLS backend", cmd, &c.mesh.dir.join("tls-backend.log"));
    let listening = wait_until(5, || std::net::TcpStream::connect(&backend).is_ok());
    ensure(listening.is_some(), c, || format!("openssl s_server on {backend} did not start"))?;
    let term = ca.issue("term", "term", "term.example.com");
    let files = [("gw-term.yaml", secret_yaml("gw-term", &term)), ("gateway.yaml", PASSTHROUGH.to_string())];
    let s = Stage::start(c, &files)?;
    let call = || s.https("pass.example.com", 9443, "/", &ca.cert, &[]).0;
    let up = wait_until(10, || call().starts_with("200 "));
    s.ensure(up.is_some(), || format!("PASSTHROUGH: {}", call()))?;
    let cert = s.cn("pass.example.com", 9443);
    s.ensure(cert == "backend", || format!("the backend's certificate must come through: {cert}"))?;
    let logged = s.access(&["outbound|8443||gw-tls.default.svc.cluster.local", "pass.example.com "])?;
    let (other, _) = s.https("other.example.com", 9443, "/", &ca.cert, &["-k"]);
    s.ensure(other.starts_with("000"), || format!("an SNI no route names must not pass: {other}"))?;
    // A terminating TLS server forwards the decrypted bytes to its TCP route (here an HTTP echo).
    let (status, body) = s.https("term.example.com", 9444, "/t", &ca.cert, &["--http1.1"]);
    let first = body.lines().next().unwrap_or_default().to_string();
    s.ensure(status == "200 h1.1" && first == "gw-b", || format!("TLS termination to TCP: {status} {body}"))?;
    let term_log = s.access(&["outbound|9080||gw-b.default.svc.cluster.local", "term.example.com "])?;
    Ok(format!(
        "pass.example.com → {} cert={cert} (log {logged}); other SNI → {other}; term.example.com → {status} {first} \
         cert={} (log {term_log})",
        call(),
        s.cn("term.example.com", 9444)
    ))
}
