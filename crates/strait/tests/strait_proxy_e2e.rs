//! End to end, the xDS variants and control-plane outages the conformance suite does not cover.
//! The suite (`conformance_e2e.rs`) runs every data-plane scenario on Envoy over SotW and on
//! the Strait proxy over Delta; here each data plane runs Istio's Bookinfo routing over its
//! other variant (Envoy over Delta, the Strait proxy over SotW), and both keep serving their
//! last good config while the control plane is away, then reconnect and apply an edit made
//! meanwhile. Real processes throughout: the control plane, `strait proxy --data-plane
//! envoy|strait`, upstream servers and curl on loopback.

mod common;

use common::*;

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
fn bookinfo_routing_through_envoy_over_delta_xds() {
    routing_scenario("envoy-routing-delta", DataPlane::Envoy { delta: true });
}

#[test]
fn bookinfo_routing_through_strait_proxy_over_sotw_xds() {
    routing_scenario("strait-routing-sotw", DataPlane::Strait { sotw: true });
}

/// all-v1, the `end-user: jason` header route and 80/20: Envoy picks weighted clusters at
/// random (80 ± 5 % over 1,000); the Strait proxy's split is exact (80 and 20 over 100).
fn routing_scenario(name: &str, data_plane: DataPlane) {
    let Some(mesh) = mesh(name, data_plane) else { return };
    let check = |cond: bool, what: &str| mesh.check(cond, what);
    check(mesh.synced(), "the proxy ACKed its initial config (proxy-status SYNCED)");

    mesh.route("virtual-service-all-v1.yaml");
    let bodies = mesh.reviews(50, &[]);
    check(bodies.len() == 50 && count(&bodies, "reviews v1") == 50, &format!("all-v1: {bodies:?}"));

    mesh.route("virtual-service-reviews-test-v2.yaml");
    let jason = mesh.reviews(20, &["end-user: jason"]);
    let others = mesh.reviews(20, &[]);
    check(count(&jason, "reviews v2") == 20, &format!("jason → v2: {jason:?}"));
    check(count(&others, "reviews v1") == 20, &format!("others → v1: {others:?}"));

    mesh.route("virtual-service-reviews-80-20.yaml");
    let envoy = matches!(data_plane, DataPlane::Envoy { .. });
    let n = if envoy { 1000 } else { 100 };
    let bodies = mesh.reviews(n, &[]);
    let (v1, v2) = (count(&bodies, "reviews v1"), count(&bodies, "reviews v2"));
    println!("80/20 split over {n} requests ({name}): v1={v1} v2={v2}");
    let ok = if envoy { v1 + v2 == n && (750..=850).contains(&v1) } else { v1 == 80 && v2 == 20 };
    check(ok, &format!("80/20 over {n}: v1={v1} v2={v2}"));
    check(mesh.synced(), "every change was ACKed (proxy-status SYNCED)");
    mesh.cleanup();
}

#[test]
fn envoy_keeps_serving_while_the_control_plane_is_away_and_reconnects() {
    control_plane_away("envoy-reconnect", DataPlane::Envoy { delta: false });
}

#[test]
fn strait_proxy_keeps_serving_while_the_control_plane_is_away_and_reconnects() {
    control_plane_away("strait-reconnect", DataPlane::Strait { sotw: false });
}

fn control_plane_away(name: &str, data_plane: DataPlane) {
    let Some(mut mesh) = mesh(name, data_plane) else { return };
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
