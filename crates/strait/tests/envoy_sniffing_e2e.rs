//! Protocol sniffing with real Envoy: Service ports with no protocol (named `web`, `greet`, no
//! `appProtocol`) are detected per connection. HTTP sent straight to the capture-free sidecar's
//! `IP:PORT` is handled by the HTTP connection manager (a VirtualService's fault and response
//! header apply, which a TCP proxy could not do); a client-first non-HTTP protocol is carried as
//! TCP at once; a server-first one (the upstream greets first, the client waits) gets through
//! after the bounded detection wait: Strait's 5 s default for `protocolDetectionTimeout: 0s`,
//! then the mesh's own value once a MeshConfig sets one. The same holds inbound, for undeclared
//! ports of the sidecar's own workload.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Instant;
use strait_testkit::upstream::{self, Behaviour};

/// `web` (HTTP upstream) and `greeter` (server-first TCP upstream) on undeclared ports, a
/// VirtualService that only an HTTP connection manager can apply, and `self-web` / `self-db`:
/// undeclared ports of the sidecar's own workload (its IP), served by apps on 127.0.0.1.
const SNIFF: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{name: web, port: 8090}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: default, labels: {app: web}}
spec: {containers: [{name: web, image: web}]}
status: {podIP: 127.0.0.45}
---
apiVersion: v1
kind: Service
metadata: {name: greeter, namespace: default}
spec:
  selector: {app: greeter}
  ports: [{name: greet, port: 8091}]
---
apiVersion: v1
kind: Pod
metadata: {name: greeter-1, namespace: default, labels: {app: greeter}}
spec: {containers: [{name: greeter, image: greeter}]}
status: {podIP: 127.0.0.46}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web]
  http:
  - match: [{headers: {x-sniff: {exact: abort}}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: web}}]
  - headers: {response: {set: {x-strait-sniffed: http}}}
    route: [{destination: {host: web}}]
---
apiVersion: v1
kind: Service
metadata: {name: self, namespace: default}
spec:
  selector: {app: sniff-self}
  ports: [{name: web, port: 8092, targetPort: APP_HTTP}, {name: db, port: 8093, targetPort: APP_TCP}]
---
apiVersion: v1
kind: Pod
metadata: {name: sniff-self-1, namespace: default, labels: {app: sniff-self}}
spec: {containers: [{name: app, image: app}]}
status: {podIP: MESH_IP}
"#;

const MESH_TIMEOUT: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    protocolDetectionTimeout: 1s
"#;

/// Connects to `addr`; when `first` is given the client speaks first. Returns the upstream's
/// greeting, the echo of `ping`, and the seconds until the greeting arrived.
fn tcp_exchange(addr: &str, first: Option<&str>) -> (String, String, f64) {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    if let Some(bytes) = first {
        let _ = stream.write_all(bytes.as_bytes());
    }
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut greeting = String::new();
    let _ = reader.read_line(&mut greeting);
    let secs = start.elapsed().as_secs_f64();
    let mut echo = String::new();
    if first.is_some() {
        let _ = reader.read_line(&mut echo);
    }
    let _ = stream.write_all(b"ping\n");
    echo.clear();
    let _ = reader.read_line(&mut echo);
    (greeting.trim().to_string(), echo.trim().to_string(), secs)
}

#[test]
fn undeclared_ports_are_sniffed_through_real_envoy() {
    let (Some(_), Some(corpus)) = (process::envoy(), strait_testkit::istio_corpus()) else { return };
    upstreams();
    upstream::spawn("127.0.0.45:8090", "web", "v1", Behaviour::default()).expect("upstream binds");
    upstream::spawn_tcp("127.0.0.46:8091", "greeter", "v1").expect("upstream binds");
    let (app_http, app_tcp) = (process::free_port("127.0.0.1"), process::free_port("127.0.0.1"));
    upstream::spawn(&format!("127.0.0.1:{app_http}"), "self", "v1", Behaviour::default()).expect("app binds");
    upstream::spawn_tcp(&format!("127.0.0.1:{app_tcp}"), "self-db", "v1").expect("app binds");
    let mesh = Mesh::start("sniffing", corpus);
    let check = |cond: bool, what: &str| mesh.check(cond, what);
    let yaml = SNIFF
        .replace("APP_HTTP", &app_http.to_string())
        .replace("APP_TCP", &app_tcp.to_string())
        .replace("MESH_IP", &mesh.ip);
    mesh.apply("sniff.yaml", &yaml);
    let ip = mesh.ip.clone();

    // HTTP on an undeclared port: the HCM applies the VirtualService, at once.
    let connect_to = format!("web:8090:{ip}:8090");
    let get = |extra: &[&str]| {
        let mut args = vec!["-i", "--connect-to", &connect_to, "-w", "\n%{http_code} %{time_total}"];
        args.extend_from_slice(extra);
        args.push("http://web:8090/");
        curl(&args)
    };
    // The new listeners may still be warming (waiting for their route configs) after the ACK.
    let out = wait_for("the sniffing listener", Duration::from_secs(10), || {
        let out = get(&[]);
        out.contains("web v1\n").then_some(out)
    });
    check(out.contains("\r\nx-strait-sniffed: http\r\n"), &format!("routed HTTP: {out:?}"));
    let secs: f64 = out.rsplit(' ').next().and_then(|s| s.trim().parse().ok()).unwrap_or(99.0);
    check(secs < 2.0, &format!("HTTP is detected without waiting for the timeout: {secs}s"));
    let out = get(&["-H", "x-sniff: abort"]);
    check(out.contains("\n418 "), &format!("the VirtualService's fault (only an HCM can inject it): {out:?}"));

    // The same port through the explicit proxy (`HTTP_PROXY`): plain HTTP is routed, CONNECT
    // (`HTTPS_PROXY`, opaque protocols) tunnels to the service.
    let out = curl(&["-i", "-x", &mesh.outbound, "http://web:8090/"]);
    check(out.contains("\r\nx-strait-sniffed: http\r\n"), &format!("routed HTTP via the proxy: {out:?}"));
    let out = curl(&["-p", "-x", &mesh.outbound, "-w", "\n%{http_connect}", "http://web:8090/"]);
    check(out.starts_with("web v1") && out.ends_with("\n200"), &format!("CONNECT to the undeclared port: {out:?}"));

    // A client-first non-HTTP protocol is carried as TCP at once.
    let (greeting, echo, secs) = tcp_exchange(&format!("{ip}:8091"), Some("hello\n"));
    check(greeting == "greeter v1" && echo == "ping", &format!("client-first TCP: {greeting:?} {echo:?}"));
    check(secs < 2.0, &format!("client-first TCP is not held by the inspector: {secs}s"));

    // Server-first, outbound and inbound at once: each gets through after the 5 s default wait.
    let (outbound, inbound) = std::thread::scope(|s| {
        let o = s.spawn(|| tcp_exchange(&format!("{ip}:8091"), None));
        let i = s.spawn(|| tcp_exchange(&format!("{ip}:8093"), None));
        (o.join().expect("outbound"), i.join().expect("inbound"))
    });
    println!("server-first greeting after: outbound {:.2}s, inbound {:.2}s", outbound.2, inbound.2);
    for ((greeting, echo, secs), want) in [(outbound, "greeter v1"), (inbound, "self-db v1")] {
        check(greeting == want && echo == "ping", &format!("server-first {want}: {greeting:?} {echo:?}"));
        check((4.5..9.0).contains(&secs), &format!("{want}: greeting after the 5 s detection wait, got {secs}s"));
    }

    // Inbound HTTP on an undeclared port: the HCM's access log line shows the request.
    let out = curl(&["-w", "\n%{http_code}", &format!("http://{ip}:8092/inbound-sniff")]);
    check(out == "self v1\n\n200", &format!("inbound HTTP: {out:?}"));
    let inbound_cluster = format!("inbound|{app_http}||");
    wait_for("the inbound HTTP request in the access log", Duration::from_secs(5), || {
        let log = mesh.log("sidecar.log");
        log.lines()
            .any(|l| l.contains("\"GET /inbound-sniff HTTP/1.1\" 200") && l.contains(&inbound_cluster))
            .then_some(())
    });

    // The mesh's protocolDetectionTimeout replaces the default.
    // The replaced listener keeps serving until the new one is warm: allow a few attempts.
    mesh.apply("mesh.yaml", MESH_TIMEOUT);
    let mut tries = Vec::new();
    while tries.len() < 3 && tries.last().is_none_or(|(_, secs): &(String, f64)| *secs >= 3.0) {
        let (greeting, _, secs) = tcp_exchange(&format!("{ip}:8091"), None);
        tries.push((greeting, secs));
    }
    println!("with protocolDetectionTimeout 1s: {tries:?}");
    let ok = tries.last().is_some_and(|(g, secs)| g == "greeter v1" && (0.8..3.0).contains(secs));
    check(ok, &format!("protocolDetectionTimeout 1s: (greeting, seconds) per attempt {tries:?}"));
    mesh.cleanup();
}
