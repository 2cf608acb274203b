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
        let text =
            std::fs::read_to_string(self.corpus.join("samples/bookinfo/networking").join(sample)).expect("sample");
        self.route_yaml(&text);
    }

    /// Installs `yaml` as the routing config and waits until the sidecar has ACKed it.
    fn route_yaml(&self, yaml: &str) {
        std::fs::write(self.dir.join("config/routes.yaml"), yaml).expect("write VS");
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

    /// One request to `host` through the sidecar: (status, body, seconds taken).
    fn call(&self, host: &str) -> (String, String, f64) {
        let out = curl(&["-x", &self.outbound, "-w", "\n%{http_code} %{time_total}", &format!("http://{host}:9080/")]);
        let (body, tail) = out.rsplit_once('\n').unwrap_or(("", &out));
        let mut parts = tail.split_whitespace();
        let status = parts.next().unwrap_or_default().to_string();
        let secs = parts.next().and_then(|t| t.parse().ok()).unwrap_or(0.0);
        (status, body.trim_end().to_string(), secs)
    }

    /// Removes the temp dir (only on success: on failure the logs stay for reading).
    fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }
}

/// Starts the shared upstreams once; returns the reviews v1, v2, v3 handles.
fn upstreams() -> &'static [upstream::Upstream] {
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
        reviews.to_vec()
    })
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

const FAULTS: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: ratings}}]
  - match: [{headers: {end-user: {exact: slowpoke}}}]
    fault: {delay: {fixedDelay: 2s, percentage: {value: 100}}}
    route: [{destination: {host: ratings}}]
  - route: [{destination: {host: ratings}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: slow}
spec:
  hosts: [slow]
  http:
  - timeout: 0.5s
    route: [{destination: {host: slow}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: flaky}
spec:
  hosts: [flaky]
  http:
  - retries: {attempts: 3, retryOn: 5xx}
    route: [{destination: {host: flaky}}]
"#;

#[test]
fn faults_timeouts_and_retries_through_real_envoy() {
    let (Some(_), Some(corpus)) = (process::envoy(), strait_testkit::istio_corpus()) else { return };
    upstreams();
    let mesh = Mesh::start("faults", corpus);
    mesh.route_yaml(FAULTS);
    let check = |cond: bool, what: &str| {
        assert!(
            cond,
            "{what}\n--- control plane ---\n{}\n--- sidecar ---\n{}",
            mesh.log("control-plane.log"),
            mesh.log("sidecar.log")
        );
    };

    // Fault abort: 503 with Envoy's body, and FI in Istio's access log.
    let out = curl(&["-x", &mesh.outbound, "-H", "end-user: jason", "-w", "\n%{http_code}", "http://ratings:9080/"]);
    check(out.ends_with("\n503") && out.starts_with("fault filter abort"), &format!("abort: {out:?}"));
    wait_for("FI in the access log", Duration::from_secs(5), || {
        mesh.log("sidecar.log").lines().any(|l| l.contains("\" 503 FI ")).then_some(())
    });

    // Fixed delay: the request takes at least 2 s, then succeeds.
    let start = std::time::Instant::now();
    let out = curl(&["-x", &mesh.outbound, "-H", "end-user: slowpoke", "http://ratings:9080/"]);
    let took = start.elapsed();
    check(out.starts_with("ratings v1") && took >= Duration::from_secs(2), &format!("delay: {out:?} after {took:?}"));

    // Route timeout 0.5 s against a 2 s upstream: 504 with UT.
    let (status, body, secs) = mesh.call("slow");
    check(
        status == "504" && body == "upstream request timeout" && secs < 1.5,
        &format!("timeout: {status} {body:?} {secs}s"),
    );
    wait_for("UT in the access log", Duration::from_secs(5), || {
        mesh.log("sidecar.log").lines().any(|l| l.contains("\" 504 UT ")).then_some(())
    });

    // Retries: an upstream that fails twice then succeeds answers 200. (Istio's *default*
    // policy would not retry a 503: its `retriable-status-codes` has no codes; our generator
    // matches that, so the route asks for `5xx` as an Istio user would.)
    let (status, body, _) = mesh.call("flaky");
    check(status == "200" && body == "flaky v1", &format!("retries: {status} {body:?}"));
    mesh.cleanup();
}

#[test]
fn live_route_change_loses_no_request() {
    let (Some(_), Some(corpus)) = (process::envoy(), strait_testkit::istio_corpus()) else { return };
    let v3 = upstreams()[2].clone();
    let mesh = Mesh::start("live", corpus);
    mesh.route("virtual-service-all-v1.yaml");
    // Traffic runs in the background while the route changes: one curl, keep-alive, 3000 requests.
    let outbound = mesh.outbound.clone();
    let load = std::thread::spawn(move || {
        curl(&["-x", &outbound, "-w", "%{http_code} %{time_total}\n", "http://reviews:9080/?n=[1-3000]"])
    });
    std::thread::sleep(Duration::from_millis(700));
    let edited = std::time::Instant::now();
    let yaml = std::fs::read_to_string(mesh.corpus.join("samples/bookinfo/networking/virtual-service-reviews-v3.yaml"))
        .expect("sample");
    std::fs::write(mesh.dir.join("config/routes.yaml"), yaml).expect("edit VS");
    let out = load.join().expect("load thread");
    // curl prints each body ("reviews vN") then our "-w" line "CODE SECONDS".
    let mut requests = 0;
    let mut non_200 = 0;
    for line in out.lines() {
        let mut parts = line.split_whitespace();
        if let (Some(code), Some(_secs)) = (parts.next(), parts.next().and_then(|t| t.parse::<f64>().ok()))
            && code.len() == 3
            && code.bytes().all(|b| b.is_ascii_digit())
        {
            requests += 1;
            non_200 += usize::from(code != "200");
        }
    }
    // When did v3 first get traffic after the edit (measured at the upstream)?
    let served_after = v3.first_arrival_after(edited).map(|t| t.duration_since(edited).as_secs_f64());
    println!("live change: {requests} requests, {non_200} non-200, new route served {served_after:?} s after the edit");
    assert_eq!(requests, 3000, "every request answered: {}", mesh.log("sidecar.log"));
    assert_eq!(non_200, 0, "no request failed during the change");
    assert!(served_after.is_some_and(|s| s < 1.0), "new route within 1 s of the edit: {served_after:?}");
    assert!(mesh.synced(), "proxy ACKed the change");
    mesh.cleanup();
}

const RESILIENCE: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: slow}
spec:
  host: slow
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: bad}
spec:
  host: bad
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 100}
"#;

#[test]
fn circuit_breaker_and_outlier_detection_through_real_envoy() {
    let (Some(_), Some(corpus)) = (process::envoy(), strait_testkit::istio_corpus()) else { return };
    upstreams();
    let mesh = Mesh::start("resilience", corpus);
    mesh.route_yaml(RESILIENCE);
    let check = |cond: bool, what: &str| {
        assert!(cond, "{what}\n--- sidecar ---\n{}", mesh.log("sidecar.log"));
    };

    // maxConnections 1 + 1 pending, 10 concurrent requests to a 2 s upstream: overflow → 503 UO.
    let urls: Vec<String> = (0..10).map(|i| format!("http://slow:9080/?i={i}")).collect();
    let mut args = vec![
        "--parallel",
        "--parallel-immediate",
        "--parallel-max",
        "10",
        "-x",
        &mesh.outbound,
        "-w",
        "%{http_code}\n",
    ];
    args.extend(urls.iter().map(String::as_str));
    let out = curl(&args);
    let overflow = out.lines().filter(|l| *l == "503").count();
    let ok = out.lines().filter(|l| *l == "200").count();
    println!("circuit breaker: {ok} × 200, {overflow} × 503 of 10 concurrent requests");
    check(overflow >= 1 && ok >= 1, &format!("expected some 503 overflows and some 200s: {out:?}"));
    check(
        out.contains("upstream connect error or disconnect/reset before headers. reset reason: overflow"),
        &format!("Envoy's overflow body: {out:?}"),
    );
    wait_for("UO in the access log", Duration::from_secs(5), || {
        mesh.log("sidecar.log").lines().any(|l| l.contains("\" 503 UO ")).then_some(())
    });

    // Outlier detection: one of two endpoints always fails; after it is ejected, all succeed.
    let first = curl(&["-x", &mesh.outbound, "-w", "%{http_code}\n", "http://bad:9080/?n=[1-10]"]);
    check(first.contains("503"), &format!("the broken endpoint was tried: {first:?}"));
    let after = curl(&["-x", &mesh.outbound, "-w", "%{http_code}\n", "http://bad:9080/?n=[1-20]"]);
    let codes: Vec<&str> = after.lines().filter(|l| l.len() == 3).collect();
    check(
        codes.len() == 20 && codes.iter().all(|c| *c == "200"),
        &format!("after ejection every request succeeds: {after:?}"),
    );
    let endpoints = Command::new(bin())
        .args(["proxy-config", "endpoints", "productpage-v1-1.default", "--control-plane", &mesh.debug])
        .output()
        .expect("proxy-config");
    let table = String::from_utf8_lossy(&endpoints.stdout);
    let row = table.lines().find(|l| l.starts_with("127.0.0.27:9080")).unwrap_or_default();
    let err = String::from_utf8_lossy(&endpoints.stderr);
    check(row.contains("FAILED"), &format!("proxy-config endpoints shows the ejection:\n{table}{err}"));
    mesh.cleanup();
}
