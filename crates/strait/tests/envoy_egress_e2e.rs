//! Egress with real Envoy: the mesh's outbound traffic policy decides what happens to hosts
//! outside the registry. REGISTRY_ONLY blocks them (Istio's `block_all`: 502); a ServiceEntry
//! makes one reachable; ALLOW_ANY passes unknown destinations through `PassthroughCluster`.
//! The "external" servers are real upstreams on loopback addresses no Service claims.

mod common;

use common::*;
use strait_testkit::upstream::{self, Behaviour};

const REGISTRY_ONLY: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    outboundTrafficPolicy:
      mode: REGISTRY_ONLY
"#;

const SERVICE_ENTRY: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external-api}
spec:
  hosts: [api.external.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.60}]
"#;

#[test]
fn outbound_traffic_policy_through_real_envoy() {
    let (Some(_), Some(corpus)) = (process::envoy(), strait_testkit::istio_corpus()) else { return };
    upstreams();
    upstream::spawn("127.0.0.60:8080", "external-api", "v1", Behaviour::default()).expect("upstream binds");
    upstream::spawn("127.0.0.61:8080", "unregistered", "v1", Behaviour::default()).expect("upstream binds");
    let mesh = Mesh::start("egress", corpus);
    let check = |cond: bool, what: &str| mesh.check(cond, what);
    let get = |url: &str| curl(&["-x", &mesh.outbound, "-w", "\n%{http_code}", url]);

    // ALLOW_ANY (Istio's default): an unknown destination passes through.
    let out = get("http://127.0.0.61:8080/");
    check(out.starts_with("unregistered v1") && out.ends_with("\n200"), &format!("ALLOW_ANY: {out:?}"));
    wait_for("PassthroughCluster in the access log", Duration::from_secs(5), || {
        mesh.log("sidecar.log")
            .lines()
            .any(|l| l.contains("127.0.0.61:8080") && l.contains("PassthroughCluster"))
            .then_some(())
    });

    // REGISTRY_ONLY: the same call is blocked with Istio's 502 from the `block_all` route.
    mesh.apply("mesh.yaml", REGISTRY_ONLY);
    let out = get("http://127.0.0.61:8080/");
    check(out.ends_with("\n502"), &format!("REGISTRY_ONLY blocks: {out:?}"));
    wait_for("block_all in the access log", Duration::from_secs(5), || {
        mesh.log("sidecar.log").lines().any(|l| l.contains("\" 502 ") && l.contains("block_all")).then_some(())
    });

    // A ServiceEntry makes an external host reachable under REGISTRY_ONLY.
    let out = get("http://api.external.test:8080/");
    check(out.ends_with("\n502"), &format!("no ServiceEntry yet: {out:?}"));
    mesh.apply("external.yaml", SERVICE_ENTRY);
    let out = get("http://api.external.test:8080/");
    check(out.starts_with("external-api v1") && out.ends_with("\n200"), &format!("with the ServiceEntry: {out:?}"));
    wait_for("the ServiceEntry's cluster in the access log", Duration::from_secs(5), || {
        mesh.log("sidecar.log").lines().any(|l| l.contains("outbound|8080||api.external.test")).then_some(())
    });
    mesh.cleanup();
}
