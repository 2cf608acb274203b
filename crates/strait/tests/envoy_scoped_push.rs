//! Pushes are scoped by content: after a change, a proxy is sent only the xDS types whose
//! resources changed. A new endpoint (a Pod) must push EDS and nothing else; the proxy must
//! then use it. Checked with the control plane's `pilot_xds_pushes` counters and real Envoy,
//! over State-of-the-World and over Delta (where an unchanged resource must not be resent,
//! which needs resources to encode identically every time they are generated).

mod common;

use common::*;
use std::collections::BTreeMap;

const NEW_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1-2, namespace: default, labels: {app: reviews, version: v1}}
spec: {containers: [{name: reviews, image: reviews, ports: [{containerPort: 9080}]}]}
status: {podIP: POD_IP}
"#;

fn pushes(mesh: &Mesh) -> BTreeMap<String, u64> {
    curl(&[&format!("http://{}/metrics", mesh.debug)])
        .lines()
        .filter_map(|l| l.strip_prefix("pilot_xds_pushes{type=\""))
        .filter_map(|l| l.split_once("\"} "))
        .map(|(ty, n)| (ty.to_string(), n.trim().parse().unwrap_or(0)))
        .collect()
}

#[test]
fn an_endpoint_change_pushes_eds_only() {
    endpoint_change_pushes_eds_only(false, "127.0.0.29");
}

#[test]
fn an_endpoint_change_pushes_eds_only_over_delta() {
    endpoint_change_pushes_eds_only(true, "127.0.0.30");
}

fn endpoint_change_pushes_eds_only(delta: bool, pod_ip: &str) {
    let (Some(_), Some(corpus)) = (process::envoy(), strait_testkit::istio_corpus()) else { return };
    upstreams();
    let extra = strait_testkit::upstream::spawn(&format!("{pod_ip}:9080"), "reviews", "v1-second", Default::default())
        .expect("upstream binds");
    let mesh = Mesh::start_with(if delta { "scoped-delta" } else { "scoped" }, corpus, delta);
    mesh.route("virtual-service-all-v1.yaml");
    let before = pushes(&mesh);
    mesh.apply("new-pod.yaml", &NEW_POD.replace("POD_IP", pod_ip));
    wait_for("the EDS push", Duration::from_secs(5), || (pushes(&mesh).get("eds") > before.get("eds")).then_some(()));
    let after = pushes(&mesh);
    println!("delta={delta}: pushes before {before:?} after {after:?}");
    for ty in ["cds", "lds", "rds"] {
        assert_eq!(after.get(ty), before.get(ty), "{ty} must not be pushed for an endpoint change (delta={delta})");
    }
    // Envoy uses the new endpoint: round robin over v1 pods reaches it.
    let bodies = mesh.reviews(20, &[]);
    assert!(bodies.iter().any(|b| b == "reviews v1-second"), "new endpoint used: {bodies:?}");
    assert!(extra.hits.load(std::sync::atomic::Ordering::SeqCst) > 0);
    mesh.cleanup();
}
