//! Egress with real Envoy: the mesh's outbound traffic policy decides what happens to hosts
//! outside the registry. REGISTRY_ONLY blocks them (Istio's `block_all`: 502); a ServiceEntry
//! makes one reachable; ALLOW_ANY passes unknown destinations through `PassthroughCluster`.
//! Opaque traffic (HTTPS, TCP) reaches the capture-free sidecar as `CONNECT host:port`
//! (`HTTPS_PROXY`, `curl --proxytunnel`) and is tunnelled under the same policy: unknown
//! destinations go to `PassthroughCluster` or `BlackHoleCluster`, declared TCP ports to their
//! service's cluster. The "external" servers are real upstreams on loopback addresses no
//! Service claims.

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

/// An opaque (TCP) external port: reachable from a capture-free app only through CONNECT.
const TCP_SERVICE_ENTRY: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external-tcp}
spec:
  hosts: [tcp.external.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 9443, name: tcp, protocol: TCP}]
  endpoints: [{address: 127.0.0.62}]
"#;

#[test]
fn outbound_traffic_policy_through_real_envoy() {
    let (Some(_), Some(corpus)) = (process::envoy(), strait_testkit::istio_corpus()) else { return };
    upstreams();
    upstream::spawn("127.0.0.60:8080", "external-api", "v1", Behaviour::default()).expect("upstream binds");
    upstream::spawn("127.0.0.61:8080", "unregistered", "v1", Behaviour::default()).expect("upstream binds");
    upstream::spawn("127.0.0.62:9443", "external-tcp", "v1", Behaviour::default()).expect("upstream binds");
    let mesh = Mesh::start("egress", corpus);
    let check = |cond: bool, what: &str| mesh.check(cond, what);
    let get = |url: &str| curl(&["-x", &mesh.outbound, "-w", "\n%{http_code}", url]);
    // `--proxytunnel`: CONNECT first, then HTTP inside the tunnel (what HTTPS_PROXY does).
    // `%{http_connect}` is the proxy's answer to the CONNECT.
    let tunnel = |url: &str| curl(&["-p", "-x", &mesh.outbound, "-w", "\n%{http_connect} %{http_code}", url]);
    let logged = |what: &str, needles: &[&str]| {
        wait_for(what, Duration::from_secs(5), || {
            mesh.log("sidecar.log").lines().any(|l| needles.iter().all(|n| l.contains(n))).then_some(())
        })
    };

    // ALLOW_ANY (Istio's default): an unknown destination passes through.
    let out = get("http://127.0.0.61:8080/");
    check(out.starts_with("unregistered v1") && out.ends_with("\n200"), &format!("ALLOW_ANY: {out:?}"));
    wait_for("PassthroughCluster in the access log", Duration::from_secs(5), || {
        mesh.log("sidecar.log")
            .lines()
            .any(|l| l.contains("127.0.0.61:8080") && l.contains("PassthroughCluster"))
            .then_some(())
    });

    let out = tunnel("http://127.0.0.61:8080/");
    check(out.ends_with("\n200 200") && out.starts_with("unregistered v1"), &format!("ALLOW_ANY tunnel: {out:?}"));
    logged("a CONNECT through PassthroughCluster", &["\"CONNECT ", "PassthroughCluster"]);

    // REGISTRY_ONLY: the same call is blocked with Istio's 502 from the `block_all` route.
    mesh.apply("mesh.yaml", REGISTRY_ONLY);
    let out = get("http://127.0.0.61:8080/");
    check(out.ends_with("\n502"), &format!("REGISTRY_ONLY blocks: {out:?}"));
    wait_for("block_all in the access log", Duration::from_secs(5), || {
        mesh.log("sidecar.log").lines().any(|l| l.contains("\" 502 ") && l.contains("block_all")).then_some(())
    });

    // An opaque call to an unknown destination shows BlackHoleCluster, as for captured TCP.
    let out = tunnel("http://127.0.0.61:8080/");
    check(!out.contains("unregistered"), &format!("REGISTRY_ONLY tunnel must not connect: {out:?}"));
    check(out.ends_with("\n503 000"), &format!("REGISTRY_ONLY tunnel refused with 503: {out:?}"));
    logged("BlackHoleCluster in the access log", &["\"CONNECT ", " 503 UH ", "BlackHoleCluster"]);

    // A ServiceEntry makes an external host reachable under REGISTRY_ONLY.
    let out = get("http://api.external.test:8080/");
    check(out.ends_with("\n502"), &format!("no ServiceEntry yet: {out:?}"));
    mesh.apply("external.yaml", SERVICE_ENTRY);
    let out = get("http://api.external.test:8080/");
    check(out.starts_with("external-api v1") && out.ends_with("\n200"), &format!("with the ServiceEntry: {out:?}"));
    wait_for("the ServiceEntry's cluster in the access log", Duration::from_secs(5), || {
        mesh.log("sidecar.log").lines().any(|l| l.contains("outbound|8080||api.external.test")).then_some(())
    });

    // The same for an opaque port: CONNECT reaches the ServiceEntry's TCP cluster.
    let out = tunnel("http://tcp.external.test:9443/");
    check(out.ends_with("\n503 000"), &format!("no TCP ServiceEntry yet: {out:?}"));
    mesh.apply("external-tcp.yaml", TCP_SERVICE_ENTRY);
    let out = tunnel("http://tcp.external.test:9443/");
    check(out.starts_with("external-tcp v1") && out.ends_with("\n200 200"), &format!("TCP ServiceEntry: {out:?}"));
    logged("the TCP ServiceEntry's cluster", &["\"CONNECT ", "outbound|9443||tcp.external.test"]);
    mesh.cleanup();
}
