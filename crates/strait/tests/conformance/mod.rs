//! The conformance suite's fixtures and helpers: the services its scenarios need — the
//! harness's Bookinfo-style ones plus one per scenario — on upstream addresses
//! 127.0.0.150–179, which no other test binary uses, so the suite can run beside the other e2e
//! binaries (stateful upstreams — a flaky one, the live-edit pair, the connection counters —
//! exist once per data plane, so the two meshes can run at the same time); the scenario type;
//! and checks that return errors instead of panicking, so one failed scenario does not hide
//! the others.
#![allow(dead_code)]

pub mod egress;
pub mod gateway;
pub mod hashing;
pub mod http;
pub mod resilience;
pub mod routing;

use crate::common::*;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use strait_testkit::upstream::{self, Behaviour, Upstream};

/// What a scenario reports: Ok with an observation that must be the same on both data planes
/// (statuses, bodies, flags, details), or Err with what failed.
pub type Outcome = Result<String, String>;

/// A scenario: its table name and how to run it.
pub struct Scenario {
    pub name: &'static str,
    /// None: not run in this suite (see the suite's doc comment).
    pub run: Option<fn(&Ctx) -> Outcome>,
    /// Set when the Strait proxy cannot run it yet: the reason, shown in the table.
    pub strait_not_yet: Option<&'static str>,
}

/// One data plane's mesh and its own upstreams.
pub struct Ctx {
    pub mesh: Mesh,
    pub dp: DataPlane,
    pub own: &'static Own,
}

/// Upstreams that keep state, one set per data plane.
pub struct Own {
    pub retried: Upstream,
    pub live_v1: Upstream,
    pub live_v3: Upstream,
    pub connlimit: Counting,
    pub idle: Counting,
    /// Their addresses' last octets, for the fixture.
    pub ips: [u8; 5],
}

impl Ctx {
    pub fn is_envoy(&self) -> bool {
        matches!(self.dp, DataPlane::Envoy { .. })
    }

    /// GET `url` through the sidecar: (status, body).
    pub fn get(&self, url: &str, headers: &[&str]) -> (String, String) {
        let mut args = vec!["-x", self.mesh.outbound.as_str(), "-w", "\n%{http_code}"];
        for h in headers {
            args.extend(["-H", *h]);
        }
        args.push(url);
        let out = curl(&args);
        let (body, status) = out.rsplit_once('\n').unwrap_or(("", &out));
        (status.to_string(), body.trim_end().to_string())
    }

    /// GET `url` through the sidecar: (status, body, the `x-strait-reason` header or "").
    pub fn get_explained(&self, url: &str, headers: &[&str]) -> (String, String, String) {
        let mut args = vec!["-x", self.mesh.outbound.as_str(), "-w", "\n%{http_code}\n%header{x-strait-reason}"];
        for h in headers {
            args.extend(["-H", *h]);
        }
        args.push(url);
        let out = curl(&args);
        let mut parts = out.rsplitn(3, '\n');
        let reason = parts.next().unwrap_or_default().to_string();
        let status = parts.next().unwrap_or_default().to_string();
        let body = parts.next().unwrap_or_default().trim_end().to_string();
        (status, body, reason)
    }

    /// Checks a local reply's `x-strait-reason` (the sidecars run with `--reason-header`): it
    /// starts with `what` and names every one of `objects`. Returns `what`, for observations
    /// (the rest names per-data-plane addresses).
    pub fn explained(&self, reason: &str, what: &str, objects: &[&str]) -> Result<String, String> {
        let ok = reason.starts_with(what) && objects.iter().all(|o| reason.contains(o));
        ensure(ok, self, || format!("x-strait-reason should say {what:?} and name {objects:?}: {reason:?}"))?;
        println!("[{}] x-strait-reason: {reason}", self.dp.name());
        Ok(format!("x-strait-reason {what:?}"))
    }

    /// Waits (up to 5 s) for the access log line containing every needle; returns it.
    pub fn logged(&self, needles: &[&str]) -> Result<String, String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.mesh.log("sidecar.log");
            if let Some(l) = log.lines().rev().find(|l| needles.iter().all(|n| l.contains(n))) {
                return Ok(l.to_string());
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("no access log line with {needles:?}{}", self.tail()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The access log fields of the request whose path is `path`: `STATUS FLAGS DETAILS
    /// "TRANSPORT FAILURE"`.
    pub fn fields(&self, path: &str) -> Result<String, String> {
        let line = self.logged(&[&format!(" {path} HTTP/")])?;
        Ok(access_fields(&line))
    }

    /// Applies `yaml` as `file` and waits for the sync (Err instead of a panic on timeout).
    pub fn apply(&self, file: &str, yaml: &str) -> Result<(), String> {
        self.mesh.write(file, yaml);
        std::thread::sleep(Duration::from_millis(400));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !self.mesh.synced() {
            if std::time::Instant::now() > deadline {
                return Err(format!("{file} was not SYNCED within 10 s:\n{}{}", self.mesh.proxy_status(), self.tail()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The sidecar log's last lines, for failure messages.
    pub fn tail(&self) -> String {
        format!("\n--- sidecar (last 15 lines) ---\n{}", tail(&self.mesh.log("sidecar.log"), 15))
    }
}

/// `STATUS FLAGS DETAILS "TRANSPORT"` of an Istio TEXT access log line.
pub fn access_fields(line: &str) -> String {
    let after = line.split_once("\" ").map_or(line, |(_, rest)| rest);
    let mut parts = after.splitn(5, ' ');
    let status = parts.next().unwrap_or_default();
    let flags = parts.next().unwrap_or_default();
    let details = parts.next().unwrap_or_default();
    let _termination = parts.next();
    let transport = parts.next().and_then(|r| r.split('"').nth(1)).unwrap_or_default();
    format!("{status} {flags} {details} \"{transport}\"")
}

/// Err(`what` + the sidecar's log tail) unless `cond`.
pub fn ensure(cond: bool, ctx: &Ctx, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(format!("{}{}", what(), ctx.tail())) }
}

/// An HTTP/1.1 upstream that counts the connections it accepts and sees closed.
#[derive(Clone)]
pub struct Counting {
    pub accepted: std::sync::Arc<AtomicUsize>,
    pub closed: std::sync::Arc<AtomicUsize>,
}

impl Counting {
    pub fn open(&self) -> usize {
        self.accepted.load(Ordering::SeqCst) - self.closed.load(Ordering::SeqCst)
    }
}

/// Starts a counting upstream on `addr` answering `NAME v1` with keep-alive.
fn counting(addr: &str, name: &str) -> Counting {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind(addr).expect("counting upstream binds");
    let c = Counting { accepted: Default::default(), closed: Default::default() };
    let (state, body) = (c.clone(), format!("{name} v1\n"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            state.accepted.fetch_add(1, Ordering::SeqCst);
            let (state, body) = (state.clone(), body.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut out = stream;
                'conn: loop {
                    loop {
                        let mut line = String::new();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => break 'conn,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    let resp = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                    if out.write_all(resp.as_bytes()).is_err() {
                        break;
                    }
                }
                state.closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    c
}

/// A listener whose accept queue is full, so connects to it time out (backlog 0, one
/// connection parked in the queue, never accepted).
fn black_hole(addr: &str) -> (std::net::TcpListener, Vec<std::net::TcpStream>) {
    let target: std::net::SocketAddr = addr.parse().expect("addr");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build().expect("runtime");
    let listener = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(target).expect("black hole binds");
        socket.listen(0).expect("listen(0)").into_std().expect("std listener")
    });
    let parked =
        (0..2).filter_map(|_| std::net::TcpStream::connect_timeout(&target, Duration::from_millis(300)).ok()).collect();
    (listener, parked)
}

/// Starts every upstream once; returns the per-data-plane sets (Envoy's, Strait's).
pub fn upstreams() -> &'static [Own; 2] {
    static OWN: OnceLock<[Own; 2]> = OnceLock::new();
    OWN.get_or_init(|| {
        let reviews = [(170, "v1"), (171, "v2"), (172, "v3")];
        for (ip, version) in reviews {
            upstream::spawn(&format!("127.0.0.{ip}:9080"), "reviews", version, Behaviour::default())
                .expect("upstream binds");
        }
        upstream::spawn("127.0.0.173:9080", "ratings", "v1", Behaviour::default()).expect("upstream binds");
        let slow = Behaviour { delay: Duration::from_secs(2), ..Behaviour::default() };
        upstream::spawn("127.0.0.174:9080", "slow", "v1", slow.clone()).expect("upstream binds");
        upstream::spawn_tcp("127.0.0.175:5432", "db", "v1").expect("upstream binds");
        upstream::spawn_tcp("127.0.0.176:5432", "db", "v2").expect("upstream binds");
        let broken = Behaviour { fail_first: usize::MAX, ..Behaviour::default() };
        upstream::spawn("127.0.0.177:9080", "bad", "broken", broken.clone()).expect("upstream binds");
        upstream::spawn("127.0.0.178:9080", "bad", "healthy", Behaviour::default()).expect("upstream binds");
        for (ip, version) in [(168, "v1"), (169, "v2"), (179, "v3")] {
            upstream::spawn(&format!("127.0.0.{ip}:9080"), "sticky", version, Behaviour::default())
                .expect("upstream binds");
        }
        let own = |ips: [u8; 5]| {
            let at = |i: u8| format!("127.0.0.{i}:9080");
            let flaky = Behaviour { fail_first: 2, ..Behaviour::default() };
            Own {
                retried: upstream::spawn(&at(ips[0]), "retried", "v1", flaky).expect("upstream binds"),
                live_v1: upstream::spawn(&at(ips[1]), "live", "v1", Behaviour::default()).expect("upstream binds"),
                live_v3: upstream::spawn(&at(ips[2]), "live", "v3", Behaviour::default()).expect("upstream binds"),
                connlimit: counting(&at(ips[3]), "connlimit"),
                idle: counting(&at(ips[4]), "idle"),
                ips,
            }
        };
        upstream::spawn("127.0.0.158:9080", "pool", "v1", slow).expect("upstream binds");
        upstream::spawn("127.0.0.159:9080", "failing", "v1", broken.clone()).expect("upstream binds");
        upstream::spawn("127.0.0.165:9080", "broken", "v1", broken).expect("upstream binds");
        upstream::spawn("127.0.0.162:8080", "unregistered", "v1", Behaviour::default()).expect("upstream binds");
        upstream::spawn("127.0.0.163:8080", "external-api", "v1", Behaviour::default()).expect("upstream binds");
        upstream::spawn("127.0.0.164:9443", "external-tcp", "v1", Behaviour::default()).expect("upstream binds");
        std::mem::forget(black_hole("127.0.0.156:9080"));
        // 127.0.0.157:9080: nothing listens (connection refused).
        [own([150, 152, 153, 160, 166]), own([151, 154, 155, 161, 167])]
    })
}

/// The sidecar's own pod (the harness's node identity).
const SIDECAR_POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: productpage-v1-1, namespace: default, \
    labels: {app: productpage, version: v1}}\nspec: {containers: [{name: productpage, image: productpage}]}\n\
    status: {podIP: 127.0.0.10}\n";

/// A service: name, port name, port, and its pods (version label, last octet of the IP).
type Fixture<'a> = (&'a str, &'a str, u16, &'a [(&'a str, u8)]);

/// Every service of the suite for one data plane (`own` names its upstreams): it replaces the
/// harness's `services.yaml`.
pub fn services(own: &Own) -> String {
    let [retried, live1, live3, connlimit, idle] = own.ips;
    let table: &[Fixture<'_>] = &[
        ("reviews", "http", 9080, &[("v1", 170), ("v2", 171), ("v3", 172)]),
        ("ratings", "http", 9080, &[("v1", 173)]),
        ("slow", "http", 9080, &[("v1", 174)]),
        ("db", "tcp-db", 5432, &[("v1", 175), ("v2", 176)]),
        ("bad", "http", 9080, &[("broken", 177), ("healthy", 178)]),
        ("retried", "http", 9080, &[("v1", retried)]),
        ("live", "http", 9080, &[("v1", live1), ("v3", live3)]),
        ("hole", "http", 9080, &[("v1", 156)]),
        ("dead", "http", 9080, &[("v1", 157)]),
        ("pool", "http", 9080, &[("v1", 158)]),
        ("failing", "http", 9080, &[("v1", 159)]),
        ("broken", "http", 9080, &[("v1", 165)]),
        ("connlimit", "http", 9080, &[("v1", connlimit)]),
        ("idle", "http", 9080, &[("v1", idle)]),
        ("sticky", "http", 9080, &[("v1", 168), ("v2", 169), ("v3", 179)]),
    ];
    let mut out = vec![SIDECAR_POD.to_string()];
    for (name, port_name, port, pods) in table {
        out.push(format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\n\
             spec:\n  selector: {{app: {name}}}\n  ports: [{{name: {port_name}, port: {port}}}]\n"
        ));
        for (version, ip) in *pods {
            out.push(format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}-{version}-1, namespace: default, \
                 labels: {{app: {name}, version: {version}}}}}\n\
                 spec: {{containers: [{{name: {name}, image: {name}, ports: [{{containerPort: {port}}}]}}]}}\n\
                 status: {{podIP: 127.0.0.{ip}}}\n"
            ));
        }
    }
    out.join("---\n")
}
