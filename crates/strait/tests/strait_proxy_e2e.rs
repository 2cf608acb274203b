//! End to end with the Strait proxy as the sidecar: the real control plane, `strait proxy
//! --data-plane strait`, real upstream servers and curl, through the same harness and the same
//! Istio Bookinfo samples as the Envoy tests (`envoy_e2e.rs`, `envoy_egress_e2e.rs`), with the
//! outcomes Envoy gives there (Envoy is the oracle). Where the Strait proxy is stricter than
//! Envoy it says so: weighted routes split exactly (smooth weighted round robin), so 80/20 over
//! 100 requests is 80 and 20, not "about".

mod common;

use common::*;

fn strait_mesh(name: &str, sotw: bool) -> Option<Mesh> {
    mesh(name, DataPlane::Strait { sotw })
}

/// A mesh whose sidecar runs `data_plane` (None when Envoy or the corpus is missing).
fn mesh(name: &str, data_plane: DataPlane) -> Option<Mesh> {
    if matches!(data_plane, DataPlane::Envoy { .. }) {
        process::envoy()?;
    }
    let corpus = strait_testkit::istio_corpus()?;
    upstreams();
    Some(Mesh::start_with_data_plane(name, corpus, data_plane))
}

#[test]
fn bookinfo_routing_through_strait_proxy_over_delta_xds() {
    routing_scenario("strait-routing", false);
}

#[test]
fn bookinfo_routing_through_strait_proxy_over_sotw_xds() {
    routing_scenario("strait-routing-sotw", true);
}

fn routing_scenario(name: &str, sotw: bool) {
    let Some(mesh) = strait_mesh(name, sotw) else { return };
    let check = |cond: bool, what: &str| mesh.check(cond, what);
    check(mesh.synced(), "the Strait proxy ACKed its initial config (proxy-status SYNCED)");

    mesh.route("virtual-service-all-v1.yaml");
    let bodies = mesh.reviews(50, &[]);
    check(bodies.len() == 50 && count(&bodies, "reviews v1") == 50, &format!("all-v1: {bodies:?}"));

    mesh.route("virtual-service-reviews-test-v2.yaml");
    let jason = mesh.reviews(20, &["end-user: jason"]);
    let others = mesh.reviews(20, &[]);
    check(count(&jason, "reviews v2") == 20, &format!("jason → v2: {jason:?}"));
    check(count(&others, "reviews v1") == 20, &format!("others → v1: {others:?}"));

    mesh.route("virtual-service-reviews-80-20.yaml");
    let bodies = mesh.reviews(100, &[]);
    let (v1, v2) = (count(&bodies, "reviews v1"), count(&bodies, "reviews v2"));
    println!("80/20 split over 100 requests (Strait, {}): v1={v1} v2={v2}", if sotw { "SotW" } else { "Delta" });
    check(v1 == 80 && v2 == 20, &format!("80/20 is exact over 100 requests: v1={v1} v2={v2}"));
    check(mesh.synced(), "every change was ACKed (proxy-status SYNCED)");
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
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /only}}]
    route: [{destination: {host: reviews, subset: v3}}]
"#;

#[test]
fn faults_timeouts_retries_and_local_replies_through_strait_proxy() {
    local_replies("strait-faults", DataPlane::Strait { sotw: false });
}

/// The oracle: the same assertions hold for Envoy.
#[test]
fn faults_timeouts_retries_and_local_replies_through_envoy() {
    local_replies("envoy-faults", DataPlane::Envoy { delta: false });
}

fn local_replies(name: &str, data_plane: DataPlane) {
    let Some(mesh) = mesh(name, data_plane) else { return };
    mesh.route_yaml(FAULTS);
    let check = |cond: bool, what: &str| mesh.check(cond, what);
    let logged = |what: &str, needle: &str| {
        wait_for(what, Duration::from_secs(5), || {
            mesh.log("sidecar.log").lines().any(|l| l.contains(needle)).then_some(())
        })
    };

    // Fault abort: 503 with Envoy's body, FI in Istio's access log.
    let out = curl(&["-x", &mesh.outbound, "-H", "end-user: jason", "-w", "\n%{http_code}", "http://ratings:9080/"]);
    check(out == "fault filter abort\n503", &format!("abort: {out:?}"));
    logged("FI in the access log", "\" 503 FI fault_filter_abort ");
    let (status, body, _) = mesh.call("ratings");
    check(status == "200" && body == "ratings v1", &format!("no fault without the header: {status} {body:?}"));

    // Route timeout 0.5 s against a 2 s upstream: 504 UT with Envoy's body.
    let (status, body, secs) = mesh.call("slow");
    check(
        status == "504" && body == "upstream request timeout" && secs < 1.5,
        &format!("timeout: {status} {body:?} {secs}s"),
    );
    logged("UT in the access log", "\" 504 UT response_timeout ");

    // Retries on 5xx: an upstream failing twice then succeeding answers 200.
    let (status, body, _) = mesh.call("flaky");
    check(status == "200" && body == "flaky v1", &format!("retries: {status} {body:?}"));

    // A virtual host whose routes do not match the path: Envoy's 404 NR with an empty body.
    let out = curl(&["-x", &mesh.outbound, "-w", "%{http_code}", "http://reviews:9080/elsewhere"]);
    check(out == "404", &format!("no route: {out:?}"));
    logged("NR in the access log", "\" 404 NR route_not_found ");
    let out = curl(&["-x", &mesh.outbound, "http://reviews:9080/only/here"]);
    check(out == "reviews v3\n", &format!("the matching route still works: {out:?}"));
    mesh.cleanup();
}

#[test]
fn unknown_hosts_and_dead_endpoints_through_strait_proxy() {
    egress("strait-egress", DataPlane::Strait { sotw: false });
}

/// The oracle: the same assertions hold for Envoy.
#[test]
fn unknown_hosts_and_dead_endpoints_through_envoy() {
    egress("envoy-egress", DataPlane::Envoy { delta: false });
}

fn egress(name: &str, data_plane: DataPlane) {
    let Some(mesh) = mesh(name, data_plane) else { return };
    let check = |cond: bool, what: &str| mesh.check(cond, what);
    // ALLOW_ANY (Istio's default): an unknown IP:port destination passes through, as Envoy's
    // PassthroughCluster does (envoy_egress_e2e.rs); nothing listens there: Envoy's UF reply.
    let out = curl(&["-x", &mesh.outbound, "-w", "\n%{http_code}", "http://127.0.0.24:9080/"]);
    check(out == "ratings v1\n\n200", &format!("passthrough: {out:?}"));
    wait_for("PassthroughCluster in the access log", Duration::from_secs(5), || {
        let log = mesh.log("sidecar.log");
        log.lines().any(|l| l.contains("\"127.0.0.24:9080\"") && l.contains(" PassthroughCluster ")).then_some(())
    });
    let out = curl(&["-x", &mesh.outbound, "-w", "\n%{http_code}", "http://127.0.0.24:9/"]);
    // Envoy 1.40's words (older Envoys added "transport failure reason: delayed connect error: 111").
    let want =
        "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure\n503";
    check(out == want, &format!("dead endpoint: {out:?}"));
    let details = "\" 503 UF upstream_reset_before_response_started{remote_connection_failure|\
                   delayed_connect_error:_Connection_refused} - \"delayed_connect_error:_Connection_refused\" ";
    wait_for("UF in the access log", Duration::from_secs(5), || {
        mesh.log("sidecar.log").lines().any(|l| l.contains(details)).then_some(())
    });
    mesh.cleanup();
}

#[test]
fn weighted_tcp_route_splits_connections_exactly() {
    let Some(mesh) = strait_mesh("strait-tcp", false) else { return };
    mesh.route_yaml(TCP_SPLIT);
    let (v1, v2) = tcp_split(&mesh.ip, 100).unwrap_or_else(|e| {
        mesh.check(false, &e);
        (0, 0)
    });
    println!("weighted TCP (Strait): v1={v1} v2={v2} of 100 connections");
    mesh.check(v1 == 80 && v2 == 20, &format!("80/20 TCP split is exact: v1={v1} v2={v2}"));
    mesh.cleanup();
}

/// Valid config the Strait proxy cannot apply yet (client TLS on a cluster): it must NACK the
/// clusters naming the field, and keep serving with the last good config.
const NACKED: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-tls, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: /nonexistent/strait-test-ca.pem}
"#;

#[test]
fn strait_proxy_nack_names_the_field_and_keeps_the_last_good_config() {
    let Some(mesh) = strait_mesh("strait-nack", false) else { return };
    mesh.route("virtual-service-all-v1.yaml");
    mesh.write("tls.yaml", NACKED);
    let status = wait_for("CDS NACK", Duration::from_secs(10), || {
        let s = mesh.proxy_status();
        s.lines().any(|l| l.starts_with("productpage-v1-1.default CDS NACK:")).then_some(s)
    });
    let line = status.lines().find(|l| l.contains("CDS NACK:")).unwrap_or_default().to_string();
    println!("{line}");
    mesh.check(
        line.contains("Cluster outbound|9080||reviews.default.svc.cluster.local: transport_socket"),
        &format!("the NACK names the cluster and the field:\n{status}"),
    );
    let after = mesh.reviews(10, &[]);
    mesh.check(count(&after, "reviews v1") == 10, &format!("last good config still serves: {after:?}"));
    mesh.cleanup();
}

#[test]
fn strait_proxy_keeps_serving_while_the_control_plane_is_away_and_reconnects() {
    let Some(mut mesh) = strait_mesh("strait-reconnect", false) else { return };
    mesh.route("virtual-service-all-v1.yaml");
    mesh.restart_control_plane(|mesh| {
        std::thread::sleep(Duration::from_millis(300));
        let bodies = mesh.reviews(10, &[]);
        mesh.check(count(&bodies, "reviews v1") == 10, &format!("last good config while away: {bodies:?}"));
        // Edited while the control plane is down: it reads the new file when it comes back.
        let v3 =
            std::fs::read_to_string(mesh.corpus.join("samples/bookinfo/networking/virtual-service-reviews-v3.yaml"))
                .expect("sample");
        mesh.write("routes.yaml", &v3);
    });
    // Reconnected (back-off is at most a few seconds here) and the new route applied.
    let served = wait_for("the new route after reconnecting", Duration::from_secs(20), || {
        let bodies = mesh.reviews(5, &[]);
        (count(&bodies, "reviews v3") == 5).then_some(bodies)
    });
    mesh.check(served.len() == 5, "reconnected");
    mesh.cleanup();
}
