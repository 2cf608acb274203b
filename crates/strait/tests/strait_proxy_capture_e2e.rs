//! Captured traffic, as in a Kubernetes pod with istio-iptables, through both data planes:
//! for each of Envoy and the Strait proxy the test makes two network namespaces joined by a
//! veth pair — `pod` (10.77.0.2: the app on 127.0.0.1, the sidecar `strait proxy
//! --interception redirect` running with gid 1337, Istio's NAT rules) and `net` (10.77.0.1
//! and the other pods' IPs: the control plane and the upstream servers) — and checks, with
//! the same assertions on both:
//!
//! - outbound HTTP from a client with no proxy settings to a Service VIP is captured into
//!   15001, handed to `0.0.0.0_9080` and routed by a VirtualService (header → subset v2);
//! - inbound HTTP to the pod IP is captured into 15006 and reaches the app on 127.0.0.1;
//! - a declared TCP port (`tcp-db`) is proxied at once, server-first greeting included;
//! - a server-first protocol on an undeclared (sniffed) port gets its greeting after the
//!   bounded detection wait (`protocolDetectionTimeout: 1s`), not never;
//! - HTTP on an undeclared port is detected at once and routed (a VirtualService header);
//! - an unknown destination passes through `PassthroughCluster` (ALLOW_ANY: TCP and HTTP to
//!   its original destination), and is refused by `BlackHoleCluster` / `block_all` under
//!   REGISTRY_ONLY.
//!
//! Root is needed (namespaces, iptables): elsewhere the test skips and says so, except under
//! `CI=true`, where it must run. All traffic stays inside the test's namespaces, which are
//! deleted when it ends, passes or panics (`strait_testkit::netns`).

mod common;

use common::{DataPlane, bin, tail};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use strait_testkit::netns::{self, Capture, Netns};
use strait_testkit::process::{self, Guard, wait_for};
use strait_testkit::upstream::{self, Behaviour};

const POD_IP: &str = "10.77.0.2";
const NET_IP: &str = "10.77.0.1";
const XDS: &str = "10.77.0.1:15010";
const DEBUG: &str = "10.77.0.1:15014";
/// The other pods, on `net`.
const REMOTE_PODS: [&str; 5] = ["10.77.0.21", "10.77.0.22", "10.77.0.31", "10.77.0.45", "10.77.0.46"];
/// The app's port (inbound), on 127.0.0.1 in `pod`.
const APP_PORT: u16 = 8000;

const MESH: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: app, namespace: default}
spec: {clusterIP: 10.96.0.5, selector: {app: app}, ports: [{name: http, port: 8000}]}
---
apiVersion: v1
kind: Pod
metadata: {name: app-1, namespace: default, labels: {app: app}}
spec: {containers: [{name: app, image: app, ports: [{containerPort: 8000}]}]}
status: {podIP: 10.77.0.2}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {clusterIP: 10.96.0.10, selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1-1, namespace: default, labels: {app: reviews, version: v1}}
spec: {containers: [{name: reviews, image: reviews, ports: [{containerPort: 9080}]}]}
status: {podIP: 10.77.0.21}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v2-1, namespace: default, labels: {app: reviews, version: v2}}
spec: {containers: [{name: reviews, image: reviews, ports: [{containerPort: 9080}]}]}
status: {podIP: 10.77.0.22}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {clusterIP: 10.96.0.20, selector: {app: db}, ports: [{name: tcp-db, port: 5432}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db-1, namespace: default, labels: {app: db}}
spec: {containers: [{name: db, image: db, ports: [{containerPort: 5432}]}]}
status: {podIP: 10.77.0.31}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.40, selector: {app: web}, ports: [{name: web, port: 8090}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: default, labels: {app: web}}
spec: {containers: [{name: web, image: web, ports: [{containerPort: 8090}]}]}
status: {podIP: 10.77.0.45}
---
apiVersion: v1
kind: Service
metadata: {name: greeter, namespace: default}
spec: {clusterIP: 10.96.0.50, selector: {app: greeter}, ports: [{name: greet, port: 8091}]}
---
apiVersion: v1
kind: Pod
metadata: {name: greeter-1, namespace: default, labels: {app: greeter}}
spec: {containers: [{name: greeter, image: greeter, ports: [{containerPort: 8091}]}]}
status: {podIP: 10.77.0.46}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web]
  http:
  - headers: {response: {set: {x-strait-sniffed: http}}}
    route: [{destination: {host: web}}]
"#;

/// The mesh config: a 1 s detection wait, and the outbound policy.
fn mesh_config(policy: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: istio, namespace: istio-system}}\ndata:\n  mesh: |-\n    \
         protocolDetectionTimeout: 1s\n    outboundTrafficPolicy:\n      mode: {policy}\n"
    )
}

/// One data plane's world: namespaces, processes, config dir. Fields drop in order: the
/// processes first, then the namespaces.
struct World {
    dir: std::path::PathBuf,
    _sidecar: Guard,
    _control_plane: Guard,
    pod: Netns,
    net: Netns,
}

impl World {
    fn start(dp: DataPlane) -> World {
        let tag = dp.name();
        let (pod, net) =
            (Netns::create(&format!("{tag}-pod")).expect("pod"), Netns::create(&format!("{tag}-net")).expect("net"));
        pod.link(&format!("{POD_IP}/24"), &net, &format!("{NET_IP}/24")).expect("veth");
        pod.default_route(NET_IP).expect("route");
        for ip in REMOTE_PODS {
            net.add_address("eth0", &format!("{ip}/32")).expect("address");
        }
        Capture::istio().install(&pod).expect("iptables");
        upstreams(&pod, &net);
        let dir = strait_testkit::process::tempdir(&format!("capture-{tag}"));
        std::fs::create_dir_all(dir.join("config")).expect("config dir");
        std::fs::write(dir.join("config/mesh.yaml"), MESH).expect("mesh");
        std::fs::write(dir.join("config/meshconfig.yaml"), mesh_config("ALLOW_ANY")).expect("mesh config");
        let mut cp = net.command(bin());
        cp.args(["control-plane", "--config"]).arg(dir.join("config")).args([
            "--xds-address",
            XDS,
            "--debug-address",
            DEBUG,
        ]);
        let control_plane = process::spawn("control plane", cp, &dir.join("control-plane.log"));
        let mut sidecar = pod.command(bin());
        sidecar.args(["proxy", "--data-plane", tag, "--xds-address", XDS, "--interception", "redirect"]);
        sidecar.args(["--ip", POD_IP, "--pod", "app-1", "--namespace", "default", "--log-level", "info"]);
        // The proxy's own traffic must not be captured again: istio-iptables exempts its uid
        // and its gid (1337). It keeps uid 0 here, so it can run Envoy from root's home.
        std::os::unix::process::CommandExt::gid(&mut sidecar, 1337);
        let sidecar = process::spawn("sidecar", sidecar, &dir.join("sidecar.log"));
        let world = World { dir, _sidecar: sidecar, _control_plane: control_plane, pod, net };
        wait_for("sidecar readiness", Duration::from_secs(30), || {
            (world.curl(&world.pod, &["-o", "/dev/null", "-w", "%{http_code}", "http://10.77.0.2:15021/healthz/ready"])
                == "200")
                .then_some(())
        });
        world.wait_synced();
        world
    }

    /// `curl -s --max-time 10 ARGS` inside `ns`, with no proxy settings.
    fn curl(&self, ns: &Netns, args: &[&str]) -> String {
        let mut cmd = ns.command("curl");
        for var in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"] {
            cmd.env_remove(var);
        }
        let out = cmd.args(["-s", "--max-time", "10"]).args(args).output().expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_synced(&self) {
        std::thread::sleep(Duration::from_millis(400));
        wait_for("the sidecar SYNCED", Duration::from_secs(15), || {
            let out = self.net.command(bin()).args(["proxy-status", "--control-plane", DEBUG]).output().ok()?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let row = text.lines().find(|l| l.starts_with("app-1.default"))?.to_string();
            let cols: Vec<&str> = row.split("   ").map(str::trim).filter(|c| !c.is_empty()).collect();
            (cols.len() > 5 && cols[2] == "SYNCED" && cols[3] == "SYNCED").then_some(())
        });
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// Waits (a little: access logs are flushed every 200 ms) for a sidecar log line with all of `needles`.
    fn logged(&self, needles: &[&str]) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if self.log("sidecar.log").lines().any(|l| needles.iter().all(|n| l.contains(n))) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("no access log line with {needles:?}"))
    }
}

/// The apps: `app` on 127.0.0.1 in the pod; the other pods and an unregistered server on `net`.
fn upstreams(pod: &Netns, net: &Netns) {
    pod.run(|| upstream::spawn(&format!("127.0.0.1:{APP_PORT}"), "app", "v1", Behaviour::default())).expect("app");
    net.run(|| -> std::io::Result<()> {
        upstream::spawn("10.77.0.21:9080", "reviews", "v1", Behaviour::default())?;
        upstream::spawn("10.77.0.22:9080", "reviews", "v2", Behaviour::default())?;
        upstream::spawn_tcp("10.77.0.31:5432", "db", "v1")?;
        upstream::spawn("10.77.0.45:8090", "web", "v1", Behaviour::default())?;
        upstream::spawn_tcp("10.77.0.46:8091", "greeter", "v1")?;
        upstream::spawn_tcp("10.77.0.1:7777", "outside", "v1")?;
        upstream::spawn("10.77.0.1:9080", "outside-http", "v1", Behaviour::default())?;
        Ok(())
    })
    .expect("upstreams");
}

/// Connects to `addr` from `ns` and waits for the server to speak; returns the greeting, the
/// echo of `ping` and the seconds until the greeting arrived.
fn tcp_exchange(ns: &Netns, addr: &str) -> (String, String, f64) {
    ns.run(|| {
        let start = Instant::now();
        let Ok(mut stream) = TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_secs(5)) else {
            return (String::new(), String::new(), 0.0);
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut greeting = String::new();
        let _ = reader.read_line(&mut greeting);
        let secs = start.elapsed().as_secs_f64();
        let _ = stream.write_all(b"ping\n");
        let mut echo = String::new();
        let _ = reader.read_line(&mut echo);
        (greeting.trim().to_string(), echo.trim().to_string(), secs)
    })
}

type Check = fn(&World) -> Result<String, String>;

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

fn outbound_http(w: &World) -> Result<String, String> {
    let get = |extra: &[&str]| {
        let mut args = vec!["--resolve", "reviews:9080:10.96.0.10"];
        args.extend_from_slice(extra);
        args.push("http://reviews:9080/");
        w.curl(&w.pod, &args)
    };
    let plain = get(&[]);
    ensure(plain == "reviews v1\n", || format!("default route → v1, got {plain:?}"))?;
    let jason = get(&["-H", "end-user: jason"]);
    ensure(jason == "reviews v2 user=jason\n", || format!("end-user: jason → v2, got {jason:?}"))?;
    w.logged(&["outbound|9080|v2|reviews.default.svc.cluster.local", "10.96.0.10:9080"])?;
    Ok("v1, jason → v2".into())
}

fn inbound_http(w: &World) -> Result<String, String> {
    let out = w.curl(&w.net, &["-w", " %{http_code}", &format!("http://{POD_IP}:{APP_PORT}/inbound")]);
    ensure(out == "app v1\n 200", || format!("inbound to the app on 127.0.0.1: {out:?}"))?;
    w.logged(&["GET /inbound", &format!("inbound|{APP_PORT}||")])?;
    Ok("200 via 15006".into())
}

fn opaque_tcp(w: &World) -> Result<String, String> {
    let (greeting, echo, secs) = tcp_exchange(&w.pod, "10.96.0.20:5432");
    ensure(greeting == "db v1" && echo == "ping", || format!("tcp-db: {greeting:?} {echo:?}"))?;
    ensure(secs < 0.5, || format!("a declared TCP port does not wait for detection: {secs:.2}s"))?;
    w.logged(&["outbound|5432||db.default.svc.cluster.local"])?;
    Ok("greeting at once".into())
}

fn server_first_sniffed(w: &World) -> Result<String, String> {
    let (greeting, echo, secs) = tcp_exchange(&w.pod, "10.96.0.50:8091");
    ensure(greeting == "greeter v1" && echo == "ping", || format!("server-first: {greeting:?} {echo:?}"))?;
    ensure((0.8..3.5).contains(&secs), || format!("greeting after the 1 s detection wait, got {secs:.2}s"))?;
    Ok("greeting after the detection wait".into())
}

fn sniffed_http(w: &World) -> Result<String, String> {
    let args = ["-i", "--resolve", "web:8090:10.96.0.40", "-w", "\n%{time_total}", "http://web:8090/"];
    let out = w.curl(&w.pod, &args);
    ensure(out.contains("\r\nx-strait-sniffed: http\r\n") && out.contains("web v1\n"), || format!("routed: {out:?}"))?;
    let secs: f64 = out.rsplit('\n').next().and_then(|s| s.trim().parse().ok()).unwrap_or(99.0);
    ensure(secs < 0.8, || format!("HTTP is detected without the timeout: {secs:.2}s"))?;
    Ok("HCM applied the VirtualService".into())
}

fn passthrough(w: &World) -> Result<String, String> {
    let (greeting, echo, _) = tcp_exchange(&w.pod, "10.77.0.1:7777");
    ensure(greeting == "outside v1" && echo == "ping", || format!("TCP passthrough: {greeting:?} {echo:?}"))?;
    w.logged(&["PassthroughCluster", "10.77.0.1:7777"])?;
    let out = w.curl(&w.pod, &["-w", " %{http_code}", "http://10.77.0.1:9080/"]);
    ensure(out == "outside-http v1\n 200", || format!("HTTP passthrough: {out:?}"))?;
    w.logged(&["GET / HTTP/1.1", "PassthroughCluster", "\"10.77.0.1:9080\""])?;
    Ok("TCP and HTTP to the original destination".into())
}

fn blackhole(w: &World) -> Result<String, String> {
    std::fs::write(w.dir.join("config/meshconfig.yaml"), mesh_config("REGISTRY_ONLY")).map_err(|e| e.to_string())?;
    w.wait_synced();
    let blocked = (0..20).any(|_| {
        std::thread::sleep(Duration::from_millis(250));
        tcp_exchange(&w.pod, "10.77.0.1:7777").0.is_empty()
    });
    ensure(blocked, || "REGISTRY_ONLY: the unknown TCP destination still answers".into())?;
    w.logged(&["BlackHoleCluster"])?;
    let out = w.curl(&w.pod, &["-w", " %{http_code}", "http://10.77.0.1:9080/"]);
    ensure(out == " 502", || format!("REGISTRY_ONLY HTTP: block_all 502, got {out:?}"))?;
    std::fs::write(w.dir.join("config/meshconfig.yaml"), mesh_config("ALLOW_ANY")).map_err(|e| e.to_string())?;
    Ok("TCP closed, HTTP 502".into())
}

const CHECKS: [(&str, Check); 7] = [
    ("outbound HTTP, VirtualService (no proxy settings)", outbound_http),
    ("inbound HTTP via 15006 to the app", inbound_http),
    ("TCP on an opaque port", opaque_tcp),
    ("server-first TCP on a sniffed port", server_first_sniffed),
    ("HTTP sniffed on an undeclared port", sniffed_http),
    ("ALLOW_ANY → PassthroughCluster", passthrough),
    ("REGISTRY_ONLY → BlackHoleCluster / block_all", blackhole),
];

fn run(dp: DataPlane) -> Vec<Result<String, String>> {
    let world = World::start(dp);
    let results: Vec<_> = CHECKS.iter().map(|(_, check)| check(&world)).collect();
    if results.iter().any(Result::is_err) {
        eprintln!("--- {} sidecar (last 60 lines) ---\n{}", dp.name(), tail(&world.log("sidecar.log"), 60));
        eprintln!("--- {} control plane (last 20 lines) ---\n{}", dp.name(), tail(&world.log("control-plane.log"), 20));
    } else {
        let _ = std::fs::remove_dir_all(&world.dir);
    }
    results
}

#[test]
fn captured_traffic_through_envoy_and_strait() {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if let Err(why) = netns::check_available() {
        assert!(!in_ci, "capture e2e must run under CI=true: {why}");
        eprintln!("SKIP: {why}");
        return;
    }
    netns::cleanup_stale();
    let mut planes = vec![DataPlane::Strait { sotw: false }];
    if process::envoy().is_some() {
        planes.insert(0, DataPlane::Envoy { delta: false });
    }
    let columns: Vec<(DataPlane, Vec<Result<String, String>>)> = planes.into_iter().map(|dp| (dp, run(dp))).collect();
    let mut failures = Vec::new();
    println!(
        "\n{:<52} {}",
        "captured traffic",
        columns.iter().map(|(dp, _)| format!("{:<8}", dp.name())).collect::<String>()
    );
    for (i, (name, _)) in CHECKS.iter().enumerate() {
        let cells: String = columns
            .iter()
            .map(|(dp, results)| match &results[i] {
                Ok(_) => "pass    ".to_string(),
                Err(e) => {
                    failures.push(format!("{name} on {}: {e}", dp.name()));
                    "FAIL    ".to_string()
                }
            })
            .collect();
        println!("{name:<52} {cells}");
    }
    assert!(failures.is_empty(), "captured traffic failures:\n{}", failures.join("\n"));
}
