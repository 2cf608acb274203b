//! Routing scenarios: proxy-status SYNCED, Istio's Bookinfo VirtualServices (all-v1, the
//! `end-user: jason` header route, 80/20), fault abort and delay, a route timeout, retries,
//! and a VirtualService edited under load.

use super::*;

/// Istio's Bookinfo sample `file`, read from the corpus in place.
fn sample(c: &Ctx, file: &str) -> Result<String, String> {
    let path = c.mesh.corpus.join("samples/bookinfo/networking").join(file);
    std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn synced(c: &Ctx) -> Outcome {
    ensure(c.mesh.synced(), c, || format!("proxy-status:\n{}", c.mesh.proxy_status()))?;
    Ok("CDS/LDS/EDS/RDS SYNCED".into())
}

pub fn all_v1(c: &Ctx) -> Outcome {
    c.apply("routes.yaml", &sample(c, "virtual-service-all-v1.yaml")?)?;
    let bodies = c.mesh.reviews(50, &[]);
    ensure(bodies.len() == 50 && count(&bodies, "reviews v1") == 50, c, || format!("all-v1: {bodies:?}"))?;
    Ok("50 of 50 to reviews v1".into())
}

pub fn header_routing(c: &Ctx) -> Outcome {
    c.apply("routes.yaml", &sample(c, "virtual-service-reviews-test-v2.yaml")?)?;
    let jason = c.mesh.reviews(20, &["end-user: jason"]);
    let others = c.mesh.reviews(20, &[]);
    ensure(count(&jason, "reviews v2") == 20, c, || format!("jason → v2: {jason:?}"))?;
    ensure(count(&others, "reviews v1") == 20, c, || format!("others → v1: {others:?}"))?;
    Ok("jason → v2 (20/20), others → v1 (20/20)".into())
}

/// Envoy picks weighted clusters at random: 80 ± 5 % over 1,000. The Strait proxy's split is
/// exact: 80 and 20 over 100 (issue 4's acceptance).
pub fn split_80_20(c: &Ctx) -> Outcome {
    c.apply("routes.yaml", &sample(c, "virtual-service-reviews-80-20.yaml")?)?;
    let n = if c.is_envoy() { 1000 } else { 100 };
    let bodies = c.mesh.reviews(n, &[]);
    let (v1, v2) = (count(&bodies, "reviews v1"), count(&bodies, "reviews v2"));
    println!("[{}] 80/20 over {n}: v1={v1} v2={v2}", c.dp.name());
    let ok = if c.is_envoy() { v1 + v2 == n && (750..=850).contains(&v1) } else { v1 == 80 && v2 == 20 };
    ensure(ok, c, || format!("80/20 over {n}: v1={v1} v2={v2}"))?;
    Ok("80/20 within tolerance (exact on Strait)".into())
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
metadata: {name: retried}
spec:
  hosts: [retried]
  http:
  - retries: {attempts: 3, retryOn: 5xx}
    route: [{destination: {host: retried}}]
"#;

pub fn fault_abort(c: &Ctx) -> Outcome {
    c.apply("faults.yaml", FAULTS)?;
    let (status, body, reason) = c.get_explained("http://ratings:9080/?c=abort", &["end-user: jason"]);
    ensure(status == "503" && body == "fault filter abort", c, || format!("abort: {status} {body:?}"))?;
    let why = c.explained(&reason, "fault injected on purpose", &["ratings:9080"])?;
    let fields = c.fields("/?c=abort")?;
    ensure(fields.starts_with("503 FI fault_filter_abort "), c, || format!("abort access log: {fields}"))?;
    let (status, body) = c.get("http://ratings:9080/?c=no-abort", &[]);
    ensure(status == "200" && body == "ratings v1", c, || format!("no fault without the header: {status} {body:?}"))?;
    Ok(format!("{status} {body:?} without the header; 503 \"fault filter abort\" with it; {fields}; {why}"))
}

pub fn fault_delay(c: &Ctx) -> Outcome {
    c.apply("faults.yaml", FAULTS)?;
    let start = std::time::Instant::now();
    let (status, body) = c.get("http://ratings:9080/?c=delay", &["end-user: slowpoke"]);
    let took = start.elapsed();
    let ok = status == "200" && body == "ratings v1 user=slowpoke" && took >= Duration::from_secs(2);
    ensure(ok && took < Duration::from_secs(4), c, || format!("delay: {status} {body:?} after {took:?}"))?;
    let fields = c.fields("/?c=delay")?;
    ensure(fields.starts_with("200 DI via_upstream "), c, || format!("delay access log: {fields}"))?;
    Ok(format!("200 after ≥ 2 s; {fields}"))
}

pub fn route_timeout(c: &Ctx) -> Outcome {
    c.apply("faults.yaml", FAULTS)?;
    let start = std::time::Instant::now();
    let (status, body, reason) = c.get_explained("http://slow:9080/?c=timeout", &[]);
    let took = start.elapsed();
    let ok = status == "504" && body == "upstream request timeout";
    ensure(ok && took < Duration::from_millis(1500), c, || format!("timeout: {status} {body:?} after {took:?}"))?;
    let why = c.explained(&reason, "upstream timeout", &["outbound|9080||slow.default.svc.cluster.local"])?;
    let fields = c.fields("/?c=timeout")?;
    ensure(fields.starts_with("504 UT response_timeout "), c, || format!("timeout access log: {fields}"))?;
    Ok(format!("504 {body:?} after 0.5 s; {fields}; {why}"))
}

pub fn retries(c: &Ctx) -> Outcome {
    c.apply("faults.yaml", FAULTS)?;
    let before = c.own.retried.hits.load(Ordering::SeqCst);
    let (status, body) = c.get("http://retried:9080/?c=retry", &[]);
    let hits = c.own.retried.hits.load(Ordering::SeqCst) - before;
    ensure(status == "200" && body == "retried v1", c, || format!("retries: {status} {body:?}"))?;
    ensure(hits == 3, c, || format!("the upstream saw {hits} attempts, expected 3 (fail, fail, succeed)"))?;
    let fields = c.fields("/?c=retry")?;
    Ok(format!("200 after 3 attempts; {fields}"))
}

const LIVE_RULE: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: live}
spec:
  host: live
  subsets: [{name: v1, labels: {version: v1}}, {name: v3, labels: {version: v3}}]
"#;

fn live_route(subset: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: live}}\n\
         spec:\n  hosts: [live]\n  http:\n  - route: [{{destination: {{host: live, subset: {subset}}}}}]\n"
    )
}

/// A VirtualService edited while one client sends 3,000 keep-alive requests: every request
/// answers 200, the new route serves within 1 s of the edit, and the proxy ACKs.
pub fn live_edit(c: &Ctx) -> Outcome {
    c.apply("live.yaml", &format!("{LIVE_RULE}---\n{}", live_route("v1")))?;
    let outbound = c.mesh.outbound.clone();
    let load = std::thread::spawn(move || {
        curl(&["-x", &outbound, "-w", "%{http_code} %{time_total}\n", "http://live:9080/?n=[1-3000]"])
    });
    std::thread::sleep(Duration::from_millis(700));
    let edited = std::time::Instant::now();
    c.mesh.write("live.yaml", &format!("{LIVE_RULE}---\n{}", live_route("v3")));
    let out = load.join().map_err(|_| "the load thread panicked".to_string())?;
    let (mut requests, mut failed) = (0, 0);
    for line in out.lines() {
        let mut parts = line.split_whitespace();
        if let (Some(code), Some(_)) = (parts.next(), parts.next().and_then(|t| t.parse::<f64>().ok()))
            && code.len() == 3
            && code.bytes().all(|b| b.is_ascii_digit())
        {
            requests += 1;
            failed += usize::from(code != "200");
        }
    }
    let after = c.own.live_v3.first_arrival_after(edited).map(|t| t.duration_since(edited).as_secs_f64());
    println!("[{}] live edit: {requests} requests, {failed} not 200, new route after {after:?} s", c.dp.name());
    ensure(requests == 3000 && failed == 0, c, || format!("{requests} answered, {failed} not 200"))?;
    ensure(after.is_some_and(|s| s < 1.0), c, || format!("new route within 1 s of the edit: {after:?}"))?;
    ensure(c.mesh.synced(), c, || "the proxy ACKed the change".into())?;
    Ok("3000 × 200 during the edit; new route within 1 s; SYNCED".into())
}

const ONLY_HERE: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /only/here}}]
    route: [{destination: {host: reviews}}]
"#;

/// A virtual host whose routes do not match the path: Envoy's 404 `NR` with an empty body;
/// the matching path still routes.
pub fn no_route(c: &Ctx) -> Outcome {
    c.apply("routes.yaml", ONLY_HERE)?;
    let (status, body, reason) = c.get_explained("http://reviews:9080/elsewhere", &[]);
    ensure(status == "404" && body.is_empty(), c, || format!("no route: {status} {body:?}"))?;
    let why = c.explained(&reason, "no route", &["\"reviews:9080\"", "visible to default/productpage-v1"])?;
    let fields = c.fields("/elsewhere")?;
    ensure(fields.starts_with("404 NR route_not_found "), c, || format!("no route access log: {fields}"))?;
    let (status, body) = c.get("http://reviews:9080/only/here", &[]);
    ensure(status == "200" && body.starts_with("reviews v"), c, || format!("matching route: {status} {body:?}"))?;
    c.apply("routes.yaml", "")?;
    Ok(format!("404 with an empty body, {fields}; {why}; /only/here → 200"))
}
