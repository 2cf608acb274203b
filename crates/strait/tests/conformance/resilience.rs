//! Resilience scenarios, from DestinationRule traffic policies: connect failures and connect
//! timeouts under Istio's default retry policy, circuit breakers (connections + pending
//! requests, and retries), outlier detection (ejection, and `no healthy upstream` when every
//! host is out), connections closed after one request, and upstream idle timeouts.

use super::*;

const OVERFLOW: &str = "upstream connect error or disconnect/reset before headers. reset reason: overflow";

/// Nothing listens on the endpoint: Istio's default retries (connect-failure, 2 retries) run
/// out, so Envoy says "retried and the latest" and logs `URX,UF` with the errno.
pub fn dead_endpoint(c: &Ctx) -> Outcome {
    let (status, body, reason) = c.get_explained("http://dead:9080/?c=dead", &[]);
    let want = "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: \
                remote connection failure";
    ensure(status == "503" && body == want, c, || format!("dead endpoint: {status} {body:?}"))?;
    let fields = c.fields("/?c=dead")?;
    let log = "503 URX,UF upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_\
               Connection_refused} \"delayed_connect_error:_Connection_refused\"";
    ensure(fields == log, c, || format!("dead endpoint access log: {fields}"))?;
    let why = c.explained(&reason, "upstream connect failure", &["outbound|9080||dead.default.svc.cluster.local"])?;
    Ok(format!("503 {body:?}; {fields}; {why}"))
}

const HOLE: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: hole}
spec:
  host: hole
  trafficPolicy:
    connectionPool:
      tcp: {connectTimeout: 0.5s}
"#;

/// The endpoint never answers the SYN: three 0.5 s connect timeouts (Istio's default retries).
pub fn connect_timeout(c: &Ctx) -> Outcome {
    c.apply("hole.yaml", HOLE)?;
    let start = std::time::Instant::now();
    let (status, body) = c.get("http://hole:9080/?c=hole", &[]);
    let took = start.elapsed();
    let want = "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: \
                connection timeout";
    ensure(status == "503" && body == want, c, || format!("connect timeout: {status} {body:?}"))?;
    let three = Duration::from_millis(1450)..Duration::from_millis(3000);
    ensure(three.contains(&took), c, || format!("three 0.5 s connect timeouts took {took:?}"))?;
    let fields = c.fields("/?c=hole")?;
    let log = "503 URX,UF upstream_reset_before_response_started{connection_timeout} \"-\"";
    ensure(fields == log, c, || format!("connect timeout access log: {fields}"))?;
    Ok(format!("503 {body:?} after 3 × 0.5 s; {fields}"))
}

const POOL: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pool}
spec:
  host: pool
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
"#;

/// `n` concurrent requests: their status codes, and curl's whole output (the bodies, which
/// curl interleaves in completion order).
fn parallel(c: &Ctx, url: &str, n: usize) -> (Vec<String>, String) {
    let urls: Vec<String> = (0..n).map(|i| format!("{url}&i={i}")).collect();
    let mut args = vec!["--parallel", "--parallel-immediate", "--parallel-max", "20", "-x", &c.mesh.outbound];
    // Bodies have no trailing newline: the status goes on a line of its own, with a marker.
    args.extend(["-w", "\n@@%{http_code}\n##%header{x-strait-reason}\n"]);
    args.extend(urls.iter().map(String::as_str));
    let out = curl(&args);
    let codes = out.lines().filter_map(|l| l.strip_prefix("@@")).map(str::to_string).collect();
    (codes, out)
}

/// The `x-strait-reason` values in `parallel`'s output (empty ones left out).
fn reasons(out: &str) -> Vec<&str> {
    out.lines().filter_map(|l| l.strip_prefix("##")).filter(|r| !r.is_empty()).collect()
}

/// maxConnections 1, http1MaxPendingRequests 1: of 10 concurrent requests to a 2 s upstream,
/// one is served, one waits, the rest overflow (503 `UO`).
pub fn circuit_breaker(c: &Ctx) -> Outcome {
    c.apply("pool.yaml", POOL)?;
    let (codes, out) = parallel(c, "http://pool:9080/?c=pool", 10);
    let ok = codes.iter().filter(|s| *s == "200").count();
    let overflow = codes.iter().filter(|s| *s == "503").count();
    println!("[{}] circuit breaker: {ok} × 200, {overflow} × 503 UO of 10", c.dp.name());
    let bodies = (out.matches("pool v1").count(), out.matches(OVERFLOW).count());
    ensure(ok + overflow == 10 && bodies == (ok, overflow), c, || format!("200 or the overflow 503: {out:?}"))?;
    ensure(ok >= 1 && overflow >= 1, c, || format!("some served, some overflowed: {codes:?}"))?;
    let line = c.logged(&["/?c=pool&i=", " 503 UO "])?;
    let fields = access_fields(&line);
    let log = "503 UO upstream_reset_before_response_started{overflow} \"-\"";
    ensure(fields == log, c, || format!("overflow access log: {fields}"))?;
    let explained = reasons(&out);
    ensure(explained.len() == overflow, c, || format!("every overflow 503 is explained: {explained:?}"))?;
    let why = c.explained(explained[0], "circuit breaker open", &["outbound|9080||pool.default.svc.cluster.local"])?;
    Ok(format!("200s and 503 {OVERFLOW:?}; {fields}; {why}"))
}

const FAILING: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: failing}
spec:
  host: failing
  trafficPolicy:
    connectionPool:
      http: {maxRetries: 1}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: failing}
spec:
  hosts: [failing]
  http:
  - retries: {attempts: 3, retryOn: 5xx}
    route: [{destination: {host: failing}}]
"#;

/// maxRetries 1 against an upstream that always fails: one request gets the retry budget and
/// runs out of attempts (`URX`), the others' retries overflow (`UO`); all pass the 503 through.
pub fn retry_overflow(c: &Ctx) -> Outcome {
    c.apply("failing.yaml", FAILING)?;
    let (codes, out) = parallel(c, "http://failing:9080/?c=failing", 6);
    let all = codes.len() == 6 && codes.iter().all(|s| s == "503") && out.matches("failing on purpose").count() == 6;
    ensure(all, c, || format!("every reply is the upstream's 503: {out:?}"))?;
    let uo = access_fields(&c.logged(&["/?c=failing&i=", " 503 UO "])?);
    let urx = access_fields(&c.logged(&["/?c=failing&i=", " 503 URX "])?);
    let want = ("503 UO via_upstream \"-\"", "503 URX via_upstream \"-\"");
    ensure((uo.as_str(), urx.as_str()) == want, c, || format!("retry overflow access log: {uo} / {urx}"))?;
    Ok(format!("{uo} and {urx}"))
}

const BAD: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: bad}
spec:
  host: bad
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 100}
"#;

/// Status codes of `n` requests to `url` (one curl, keep-alive).
fn codes(c: &Ctx, url: &str, n: usize) -> Vec<String> {
    let out = curl(&["-x", &c.mesh.outbound, "-o", "/dev/null", "-w", "%{http_code}\n", &format!("{url}?n=[1-{n}]")]);
    out.lines().map(str::to_string).collect()
}

/// One of two endpoints always fails: one 5xx ejects it, then every request succeeds.
pub fn outlier_ejection(c: &Ctx) -> Outcome {
    c.apply("bad.yaml", BAD)?;
    let first = codes(c, "http://bad:9080/", 10);
    ensure(first.iter().any(|s| s == "503"), c, || format!("the broken endpoint was tried: {first:?}"))?;
    // Envoy ejects on its main thread, a moment later than the failure: wait for a clean run.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while codes(c, "http://bad:9080/", 10).iter().any(|s| s != "200") {
        ensure(std::time::Instant::now() < deadline, c, || "no clean run of 10 within 10 s".into())?;
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = codes(c, "http://bad:9080/", 20);
    ensure(after.len() == 20 && after.iter().all(|s| s == "200"), c, || format!("after ejection: {after:?}"))?;
    Ok("a 503 ejects the broken endpoint; then 20 × 200".into())
}

const BROKEN: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: broken}
spec:
  host: broken
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 100}
"#;

/// The only endpoint fails once and is ejected: `no healthy upstream` (Istio sets the panic
/// threshold to 0, so there is no panic mode).
pub fn no_healthy_upstream(c: &Ctx) -> Outcome {
    c.apply("broken.yaml", BROKEN)?;
    let (status, body) = c.get("http://broken:9080/?c=broken-first", &[]);
    ensure(status == "503" && body == "failing on purpose", c, || format!("first: {status} {body:?}"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let (mut last, mut reason);
    loop {
        let (status, body, r) = c.get_explained("http://broken:9080/?c=broken", &[]);
        (last, reason) = ((status, body), r);
        if last.1 == "no healthy upstream" || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    ensure(last == ("503".into(), "no healthy upstream".into()), c, || format!("after ejection: {last:?}"))?;
    let why = c.explained(&reason, "no healthy upstream", &["outbound|9080||broken.default.svc.cluster.local"])?;
    let fields = access_fields(&c.logged(&[" /?c=broken HTTP/", "no_healthy_upstream"])?);
    ensure(fields == "503 UH no_healthy_upstream \"-\"", c, || format!("UH access log: {fields}"))?;
    Ok(format!("503 via upstream, then 503 {:?}; {fields}; {why}", last.1))
}

const CONNLIMIT: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: connlimit}
spec:
  host: connlimit
  trafficPolicy:
    connectionPool:
      http: {maxRequestsPerConnection: 1}
"#;

/// Upstream keep-alive reuses one connection; maxRequestsPerConnection 1 opens one per request.
pub fn one_request_per_connection(c: &Ctx) -> Outcome {
    let up = &c.own.connlimit;
    let n = |url: &str| codes(c, url, 5);
    let base = up.accepted.load(Ordering::SeqCst);
    let first = n("http://connlimit:9080/");
    let reused = up.accepted.load(Ordering::SeqCst) - base;
    ensure(first.iter().all(|s| s == "200") && reused == 1, c, || format!("keep-alive: {first:?}, {reused} conns"))?;
    c.apply("connlimit.yaml", CONNLIMIT)?;
    let base = up.accepted.load(Ordering::SeqCst);
    let second = n("http://connlimit:9080/");
    let each = up.accepted.load(Ordering::SeqCst) - base;
    ensure(second.iter().all(|s| s == "200") && each == 5, c, || format!("limit 1: {second:?}, {each} conns"))?;
    Ok("5 requests: 1 connection by default, 5 with maxRequestsPerConnection 1".into())
}

const IDLE: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: idle}
spec:
  host: idle
  trafficPolicy:
    connectionPool:
      http: {idleTimeout: 1s}
"#;

/// With idleTimeout 1s the proxy closes its idle upstream connection about a second after the
/// request (the default, one hour, keeps it).
pub fn idle_timeout(c: &Ctx) -> Outcome {
    let up = &c.own.idle;
    let (status, _) = c.get("http://idle:9080/?c=idle-default", &[]);
    std::thread::sleep(Duration::from_millis(1500));
    ensure(status == "200" && up.open() == 1, c, || format!("default keeps it: {status}, {} open", up.open()))?;
    c.apply("idle.yaml", IDLE)?;
    // The changed cluster's old pool goes away with its connection.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while up.open() > 0 {
        ensure(std::time::Instant::now() < deadline, c, || "the old pool's connection stays open".into())?;
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = std::time::Instant::now();
    let (status, _) = c.get("http://idle:9080/?c=idle", &[]);
    ensure(status == "200" && up.open() == 1, c, || format!("request: {status}, {} open", up.open()))?;
    while up.open() > 0 && sent.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let closed = sent.elapsed();
    println!("[{}] idle timeout 1 s: upstream connection closed after {closed:?}", c.dp.name());
    let window = Duration::from_millis(900)..Duration::from_millis(2500);
    ensure(up.open() == 0 && window.contains(&closed), c, || format!("closed after {closed:?}"))?;
    Ok("idle upstream connection closed ≈ 1 s after the request".into())
}
