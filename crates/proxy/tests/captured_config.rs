//! The captured layout the control plane generates (a sidecar with `INTERCEPTION_MODE`
//! REDIRECT) through the Strait proxy's conversion: every listener and cluster compiles (no
//! NACK), the per-port outbound listeners are not bound, and filter chain selection on
//! `virtualInbound` and on a sniffing outbound listener picks what Envoy picks for the same
//! connection (by original destination port and the HTTP inspector's verdict).

use strait_config::{LoadOptions, LoadReport, load_text};
use strait_proxy::config::listener::{Connection, ListenerKind, listener_filters::Kind};
use strait_proxy::config::{Cluster, Listener, cluster::Discovery};
use strait_registry::identity::ProxyMetadata;
use strait_registry::{NodeId, Registry};

const MESH: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: app, namespace: default}
spec: {clusterIP: 10.96.0.5, selector: {app: app}, ports: [{name: http, port: 8000}, {name: extra, port: 8001}]}
---
apiVersion: v1
kind: Pod
metadata: {name: app-1, namespace: default, labels: {app: app}}
spec: {containers: [{name: app, image: app, ports: [{containerPort: 8000}, {containerPort: 8001}]}]}
status: {podIP: 10.77.0.2}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {clusterIP: 10.96.0.20, selector: {app: db}, ports: [{name: tcp-db, port: 5432}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db-1, namespace: default, labels: {app: db}}
spec: {containers: [{name: db, image: db, ports: [{containerPort: 5432}]}]}
status: {podIP: 10.77.0.31}
---
apiVersion: v1
kind: Service
metadata: {name: greeter, namespace: default}
spec: {clusterIP: 10.96.0.50, selector: {app: greeter}, ports: [{name: greet, port: 8091}]}
---
apiVersion: v1
kind: Pod
metadata: {name: greeter-1, namespace: default, labels: {app: greeter}}
spec: {containers: [{name: greeter, image: greeter, ports: [{containerPort: 8091}]}]}
status: {podIP: 10.77.0.46}
"#;

fn snapshot() -> strait_xds::Snapshot {
    let mut report = LoadReport::default();
    load_text("mesh.yaml", MESH, &LoadOptions::default(), &mut report);
    assert!(report.findings.is_empty(), "{:?}", report.findings.iter().map(|f| f.to_string()).collect::<Vec<_>>());
    let resources: Vec<_> = report.resources.into_iter().map(|l| l.resource).collect();
    let reg: Registry = strait_registry::build::build(&resources);
    let id = NodeId::parse("sidecar~10.77.0.2~app-1.default~default.svc.cluster.local").expect("node id");
    let metadata = ProxyMetadata { captured: true, ..Default::default() };
    let proxy = strait_registry::identity::proxy_for(&reg, id, &metadata);
    strait_xds::generate(&reg, &proxy)
}

fn listener(snap: &strait_xds::Snapshot, name: &str) -> Listener {
    let l = snap.listeners.iter().find(|l| l.name == name).unwrap_or_else(|| panic!("listener {name}"));
    Listener::try_from(l).unwrap_or_else(|e| panic!("listener {name}: {e}"))
}

fn conn<'a>(local: &str, alpn: &'a [String]) -> Connection<'a> {
    Connection {
        local: local.parse().expect("addr"),
        remote: "10.77.0.9:40000".parse().expect("addr"),
        server_name: None,
        transport_protocol: "raw_buffer",
        application_protocols: alpn,
    }
}

/// The selected chain's name and kind (`http` or the TCP proxy's first cluster).
fn pick(l: &Listener, c: &Connection<'_>) -> Option<(String, String)> {
    let chain = l.select(c)?;
    let what = match &chain.kind {
        ListenerKind::Http(_) => "http".to_string(),
        ListenerKind::Tcp(t) => t.clusters.join(","),
    };
    Some((chain.name.clone(), what))
}

#[test]
fn every_captured_resource_compiles() {
    let snap = snapshot();
    for c in &snap.clusters {
        Cluster::try_from(c).unwrap_or_else(|e| panic!("cluster {}: {e}", c.name));
    }
    for l in &snap.listeners {
        Listener::try_from(l).unwrap_or_else(|e| panic!("listener {}: {e}", l.name));
    }
    let passthrough = snap.clusters.iter().find(|c| c.name == "PassthroughCluster").expect("passthrough");
    let compiled = Cluster::try_from(passthrough).expect("compiles");
    assert!(matches!(compiled.discovery, Discovery::OriginalDst(None)), "captured: the connection's destination");
    let vo = listener(&snap, "virtualOutbound");
    assert!(vo.use_original_dst && vo.bind_to_port && vo.address.port() == 15001);
    let tcp = listener(&snap, "10.96.0.20_5432");
    assert!(!tcp.bind_to_port, "per-port listeners are reached by hand-off only");
}

#[test]
fn virtual_inbound_picks_chains_by_original_port_and_protocol() {
    let snap = snapshot();
    let vi = listener(&snap, "virtualInbound");
    let filters: Vec<Kind> = vi.listener_filters.filters.iter().map(|f| f.kind).collect();
    assert_eq!(filters, [Kind::OriginalDst, Kind::HttpInspector]);
    let inspector = &vi.listener_filters.filters[1];
    let disabled = |port| inspector.disabled.as_ref().is_some_and(|p| p.matches(port));
    assert!(!disabled(8001) && disabled(8000) && disabled(15006), "the inspector runs for the sniffed port only");
    assert!(vi.listener_filters.continue_on_timeout, "server-first protocols go on to the TCP chain");
    let h1 = vec!["http/1.1".to_string()];
    let http = Some(("0.0.0.0_8001".to_string(), "http".to_string()));
    assert_eq!(pick(&vi, &conn("10.77.0.2:8001", &h1)), http);
    let raw = Some(("0.0.0.0_8001".to_string(), "inbound|8001||".to_string()));
    assert_eq!(pick(&vi, &conn("10.77.0.2:8001", &[])), raw, "not HTTP (or timed out): TCP");
    assert_eq!(pick(&vi, &conn("10.77.0.2:8000", &[])), Some(("0.0.0.0_8000".into(), "http".into())));
    let other = Some(("InboundPassthroughFilterChain".to_string(), "InboundPassthroughCluster".to_string()));
    assert_eq!(pick(&vi, &conn("10.77.0.2:9999", &[])), other);
}

#[test]
fn a_sniffing_outbound_listener_falls_back_to_its_tcp_chain() {
    let snap = snapshot();
    let l = listener(&snap, "10.96.0.50_8091");
    assert_eq!(l.listener_filters.timeout, Some(std::time::Duration::from_secs(5)), "Strait's default wait");
    let h2c = vec!["h2c".to_string()];
    assert_eq!(pick(&l, &conn("10.96.0.50:8091", &h2c)).map(|p| p.1), Some("http".into()));
    let tcp = pick(&l, &conn("10.96.0.50:8091", &[])).map(|p| p.1);
    assert_eq!(tcp, Some("outbound|8091||greeter.default.svc.cluster.local".into()), "the default chain");
}
