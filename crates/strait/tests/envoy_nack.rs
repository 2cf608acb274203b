//! A NACK end to end with real Envoy: a DestinationRule edit that is valid config but that the
//! proxy cannot apply (its `tls.caCertificates` file does not exist on the proxy's host, so
//! Envoy rejects the cluster update) reaches a `strait proxy --data-plane envoy` sidecar. The
//! test asserts that `strait proxy-status` shows the CDS NACK with Envoy's message, that the
//! control plane counts it in `pilot_total_xds_rejects`, and that traffic keeps flowing with the
//! last good config.

mod common;

use common::*;

const POD: &str = "productpage-v1-1.default";

/// The last good routes: everything to v2 (subsets come from Istio's destination-rule-all).
const GOOD: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: v2}}]
"#;

/// Valid config, but the CA file is missing on this host, so Envoy rejects the clusters
/// ("Invalid path"). Were it applied, requests would fail TLS against the plaintext upstreams.
const NACKED: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-tls, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: /nonexistent/strait-test-ca.pem}
"#;

/// The column `index` (2 = CDS, 5 = RDS) of our proxy's row.
fn state(status: &str, index: usize) -> Option<String> {
    let row = status.lines().find(|l| l.starts_with(POD))?;
    let cols: Vec<&str> = row.split("   ").map(str::trim).filter(|c| !c.is_empty()).collect();
    cols.get(index).map(|s| s.to_string())
}

#[test]
fn envoy_nack_keeps_last_good_config() {
    let (Some(_), Some(corpus)) = (process::envoy(), strait_testkit::istio_corpus()) else { return };
    upstreams();
    let mesh = Mesh::start("nack", corpus);
    let context = || {
        format!(
            "\n--- control plane ---\n{}\n--- sidecar ---\n{}",
            mesh.log("control-plane.log"),
            mesh.log("sidecar.log")
        )
    };
    mesh.route_yaml(GOOD);
    let before = mesh.reviews(10, &[]);
    assert!(before.len() == 10 && before.iter().all(|b| b == "reviews v2"), "good config: {before:?}{}", context());

    // The edit is valid config: only the missing file makes Envoy reject it.
    let edit = mesh.dir.join("nacked.yaml");
    std::fs::write(&edit, NACKED).expect("edit");
    let validate = Command::new(bin()).args(["validate", "-f"]).arg(&edit).output().expect("strait validate");
    assert!(
        validate.status.success(),
        "the trigger must be valid config:\n{}",
        String::from_utf8_lossy(&validate.stdout)
    );

    mesh.write("tls.yaml", NACKED);
    let status = wait_for("CDS NACK", Duration::from_secs(10), || {
        let s = mesh.proxy_status();
        (state(&s, 2).as_deref() == Some("NACK")).then_some(s)
    });
    let line = status.lines().find(|l| l.starts_with(&format!("{POD} CDS NACK:"))).unwrap_or_default();
    assert!(
        line.contains("Invalid path: /nonexistent/strait-test-ca.pem"),
        "Envoy's message under the table:\n{status}{}",
        context()
    );
    println!("{line}");

    let metrics = curl(&[&format!("http://{}/metrics", mesh.debug)]);
    let rejects = metrics
        .lines()
        .find_map(|l| l.strip_prefix("pilot_total_xds_rejects "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(rejects.is_some_and(|n| n >= 1.0), "pilot_total_xds_rejects ≥ 1:\n{metrics}");

    let after = mesh.reviews(20, &[]);
    assert!(
        after.len() == 20 && after.iter().all(|b| b == "reviews v2"),
        "last good config still serves: {after:?}{}",
        context()
    );
    mesh.cleanup();
}
