//! Every file of Istio's `tests/testdata/config/` (read in place from the corpus) translates:
//! loaded with a small hand-written base of Kubernetes Services and Pods they refer to, built
//! into a registry, and generated for a capture-free sidecar in the file's namespace and, where
//! the file has Gateways, for a router whose labels match them. Generation must not panic,
//! Envoy (`--mode validate`) must accept the whole snapshot, and a compact text summary of it
//! must match `tests/golden/<file>.txt` (`STRAIT_UPDATE_GOLDEN=1` rewrites the goldens).

mod support;

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster::ClusterDiscoveryType};
use envoy_types::pb::envoy::config::core::v3::{address, socket_address::PortSpecifier};
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteConfiguration, route, route_action::ClusterSpecifier, route_match::PathSpecifier,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use strait_config::{LoadOptions, LoadReport, load_text};
use strait_model::Resource;
use strait_registry::{NodeId, NodeType, Proxy, Registry};
use strait_xds::Snapshot;

/// The Kubernetes objects Istio's test configs refer to: `service3` in `default` (ports 80 and
/// 81, pods v1/v2), `c` in `testns` (port 80, pods v1/v2), the gateways' own services and pods
/// in `istio-system`, and a short-name `istio-egressgateway` in `testns`.
const BASE: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: service3, namespace: default}
spec:
  selector: {app: service3}
  clusterIP: 10.96.0.3
  ports: [{name: http, port: 80, targetPort: 8080}, {name: http-alt, port: 81, targetPort: 8081}]
---
apiVersion: v1
kind: Service
metadata: {name: c, namespace: testns}
spec:
  selector: {app: c}
  clusterIP: 10.96.1.3
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: istio-egressgateway, namespace: testns}
spec:
  selector: {istio: egressgateway}
  clusterIP: 10.96.1.4
  ports: [{name: http2, port: 80, targetPort: 8080}, {name: https, port: 443, targetPort: 8443}]
---
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  clusterIP: 10.96.2.1
  ports: [{name: http2, port: 80, targetPort: 8080}, {name: https, port: 443, targetPort: 8443}]
---
apiVersion: v1
kind: Service
metadata: {name: istio-egressgateway, namespace: istio-system}
spec:
  selector: {istio: egressgateway}
  clusterIP: 10.96.2.2
  ports: [{name: http2, port: 80, targetPort: 8080}, {name: https, port: 443, targetPort: 8443}]
"#;

/// Pods: `(name, namespace, ip, labels)`.
const PODS: &[(&str, &str, &str, &str)] = &[
    ("service3-v1", "default", "10.1.0.1", "{app: service3, version: v1}"),
    ("service3-v2", "default", "10.1.0.2", "{app: service3, version: v2}"),
    ("c-v1", "testns", "10.1.1.1", "{app: c, version: v1}"),
    ("c-v2", "testns", "10.1.1.2", "{app: c, version: v2}"),
    ("ingressgateway", "istio-system", "10.1.2.1", "{istio: ingressgateway}"),
    ("egressgateway", "istio-system", "10.1.2.2", "{istio: egressgateway}"),
];

fn base_yaml() -> String {
    let mut text = BASE.to_string();
    for (name, ns, ip, labels) in PODS {
        let _ = write!(
            text,
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {labels}}}\n\
             spec: {{containers: [{{name: app, image: app}}]}}\nstatus: {{phase: Running, podIP: {ip}}}\n"
        );
    }
    text
}

/// The base plus one corpus file, as typed resources (the file must load without errors).
/// Certificate paths under `/etc/certs/` move under `certs_root`, where the test put real
/// certificates: Envoy reads them when it loads a listener or cluster.
fn load(file: &Path, certs_root: &Path) -> Vec<Resource> {
    let text = std::fs::read_to_string(file).expect("read corpus file");
    let text = text.replace("/etc/certs/", &format!("{}/etc/certs/", certs_root.display()));
    let mut report = LoadReport::default();
    load_text(&file.to_string_lossy(), &text, &LoadOptions::default(), &mut report);
    let errors: Vec<String> =
        report.findings.iter().filter(|f| f.severity == strait_model::Severity::Error).map(|f| f.to_string()).collect();
    assert!(errors.is_empty(), "{} does not load: {errors:#?}", file.display());
    let mut base = LoadReport::default();
    load_text("base.yaml", &base_yaml(), &LoadOptions::default(), &mut base);
    assert_eq!(base.errors(), 0, "base: {:#?}", base.findings);
    report.resources.extend(base.resources);
    report.resources.into_iter().map(|l| l.resource).collect()
}

/// Real certificates at every path the corpus names: Istio's repository-relative
/// `tests/testdata/certs/default/` (se-example.yaml) and the gateways' `/etc/certs/`, re-rooted.
fn write_certs(dir: &Path) {
    for (sub, pairs) in [
        ("tests/testdata/certs/default", &[("cert-chain.pem", "key.pem")][..]),
        ("etc/certs", &[("cert-chain.pem", "key.pem"), ("servercert.pem", "privatekey.pem")][..]),
    ] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).expect("cert dir");
        for (cert, key) in pairs {
            support::write_cert(&d.join(cert), &d.join(key));
        }
        std::fs::copy(d.join("cert-chain.pem"), d.join("root-cert.pem")).expect("root cert");
    }
}

/// The namespace of the file's first Istio resource (`default` when it has none).
fn config_namespace(resources: &[Resource]) -> String {
    resources
        .iter()
        .filter(|r| r.kind().is_some_and(|k| k.is_istio()))
        .find_map(|r| r.metadata().namespace.clone())
        .unwrap_or_else(|| "default".into())
}

/// The union of the file's Gateway selectors, when it has Gateways.
fn gateway_labels(resources: &[Resource]) -> Option<BTreeMap<String, String>> {
    let gws: Vec<_> =
        resources.iter().filter_map(|r| if let Resource::Gateway(g) = r { Some(g) } else { None }).collect();
    (!gws.is_empty()).then(|| gws.iter().flat_map(|g| g.spec.selector.clone()).collect())
}

fn proxy(node_type: NodeType, ns: &str, labels: BTreeMap<String, String>) -> Proxy {
    let (ip, pod) = match node_type {
        NodeType::Sidecar => ("10.0.0.100", "app-abc"),
        NodeType::Router => ("10.0.0.200", "gateway-abc"),
    };
    Proxy {
        id: NodeId {
            node_type,
            ip: ip.into(),
            pod: pod.into(),
            namespace: ns.into(),
            domain: format!("{ns}.svc.cluster.local"),
        },
        labels,
        service_account: "default".into(),
        workload_name: pod.trim_end_matches("-abc").into(),
        outbound_port: 15001,
        captured: false,
        app_address: "127.0.0.1".into(),
        // Sidecars explain their local replies (`x-strait-reason`), so Envoy validates the
        // local_reply_config and route headers that generates.
        reason_header: node_type == NodeType::Sidecar,
    }
}

fn discovery(c: &Cluster) -> String {
    match &c.cluster_discovery_type {
        Some(ClusterDiscoveryType::Type(t)) => {
            envoy_types::pb::envoy::config::cluster::v3::cluster::DiscoveryType::try_from(*t)
                .map_or_else(|_| t.to_string(), |d| d.as_str_name().to_string())
        }
        Some(ClusterDiscoveryType::ClusterType(t)) => t.name.clone(),
        None => "STATIC".into(),
    }
}

fn listener_addr(l: &Listener) -> String {
    match l.address.as_ref().and_then(|a| a.address.as_ref()) {
        Some(address::Address::SocketAddress(s)) => match s.port_specifier {
            Some(PortSpecifier::PortValue(p)) => format!("{}:{p}", s.address),
            _ => s.address.clone(),
        },
        other => format!("{other:?}"),
    }
}

fn route_match(r: &Route) -> String {
    let Some(m) = r.r#match.as_ref() else { return "-".into() };
    let mut out = match &m.path_specifier {
        Some(PathSpecifier::Prefix(p)) => format!("prefix {p}"),
        Some(PathSpecifier::Path(p)) => format!("path {p}"),
        Some(PathSpecifier::SafeRegex(re)) => format!("regex {}", re.regex),
        Some(PathSpecifier::ConnectMatcher(_)) => "CONNECT".into(),
        Some(other) => format!("{other:?}"),
        None => "any".into(),
    };
    for h in &m.headers {
        let _ = write!(out, " header:{}", h.name);
    }
    for q in &m.query_parameters {
        let _ = write!(out, " query:{}", q.name);
    }
    out
}

fn route_action(r: &Route) -> String {
    match &r.action {
        Some(route::Action::Route(a)) => match &a.cluster_specifier {
            Some(ClusterSpecifier::Cluster(c)) => c.clone(),
            Some(ClusterSpecifier::WeightedClusters(w)) => {
                let parts: Vec<String> =
                    w.clusters.iter().map(|c| format!("{}={}", c.name, c.weight.map_or(0, |v| v.value))).collect();
                format!("weighted[{}]", parts.join(", "))
            }
            other => format!("{other:?}"),
        },
        Some(route::Action::Redirect(_)) => "redirect".into(),
        Some(route::Action::DirectResponse(d)) => format!("direct {}", d.status),
        other => format!("{other:?}"),
    }
}

fn summarize_routes(out: &mut String, rcs: &[RouteConfiguration]) {
    for rc in rcs {
        let _ = writeln!(out, "  {}", rc.name);
        for vh in &rc.virtual_hosts {
            let _ = writeln!(out, "    vhost {}", vh.name);
            for r in &vh.routes {
                let _ = writeln!(out, "      {} -> {}", route_match(r), route_action(r));
            }
        }
    }
}

/// A compact, deterministic text summary of a snapshot.
fn summarize(title: &str, snap: &Snapshot) -> String {
    let mut out = format!("# {title}\nclusters:\n");
    for c in &snap.clusters {
        let _ = writeln!(out, "  {} {}", c.name, discovery(c));
    }
    out.push_str("listeners:\n");
    for l in &snap.listeners {
        let _ = writeln!(out, "  {} {}", l.name, listener_addr(l));
    }
    out.push_str("routes:\n");
    summarize_routes(&mut out, &snap.routes);
    out
}

/// Every resource of `snap` with its protobuf encoding.
fn encodings(snap: &Snapshot) -> Vec<(String, Vec<u8>)> {
    use prost::Message;
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    out.extend(snap.clusters.iter().map(|c| (format!("cluster {}", c.name), c.encode_to_vec())));
    out.extend(snap.endpoints.iter().map(|e| (format!("endpoints {}", e.cluster_name), e.encode_to_vec())));
    out.extend(snap.listeners.iter().map(|l| (format!("listener {}", l.name), l.encode_to_vec())));
    out.extend(snap.routes.iter().map(|r| (format!("route {}", r.name), r.encode_to_vec())));
    out
}

/// Generates for `p`, summarises, and asks Envoy; returns (summary, Envoy's verdict).
fn check(reg: &Registry, p: &Proxy, envoy: Option<&str>, dir: &Path, tag: &str) -> (String, Result<(), String>) {
    let snap = strait_xds::generate(reg, p);
    // The ADS server versions resources by their encoding: equal input must encode equally,
    // or every push would resend unchanged resources.
    let (first, second) = (encodings(&snap), encodings(&strait_xds::generate(reg, p)));
    for ((name, a), (_, b)) in first.iter().zip(&second) {
        assert!(a == b, "{tag}: {name} encodes differently on a second generation");
    }
    let kind = if p.id.node_type == NodeType::Router { "router" } else { "sidecar" };
    let summary = summarize(&format!("{kind} {}", p.id), &snap);
    let verdict = envoy.map_or(Ok(()), |envoy| {
        let path = dir.join(format!("{tag}-{kind}.pb"));
        std::fs::write(&path, support::snapshot_bootstrap(&snap, &p.id.to_string())).expect("write bootstrap");
        strait_testkit::process::envoy_validate(envoy, &path, dir)
    });
    (summary, verdict)
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn istio_test_configs_translate_and_envoy_accepts_them() {
    let Some(corpus) = strait_testkit::istio_corpus() else { return };
    let files = strait_testkit::files_under(&corpus.join("tests/testdata/config"), &[".yaml", ".yml"]);
    assert!(files.len() >= 30, "expected Istio's 30 test configs, found {}", files.len());
    let envoy = strait_testkit::process::envoy();
    let dir = strait_testkit::process::tempdir("xds-istio-configs");
    write_certs(&dir);
    let update = std::env::var("STRAIT_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let (mut rejected, mut stale, mut accepted) = (Vec::new(), Vec::new(), 0);
    for file in &files {
        let stem = file.file_stem().and_then(|s| s.to_str()).expect("file name").to_string();
        let resources = load(file, &dir);
        let reg = strait_registry::build::build(&resources);
        let ns = config_namespace(&resources);
        let mut proxies = vec![proxy(NodeType::Sidecar, &ns, BTreeMap::from([("app".into(), "app".into())]))];
        if let Some(labels) = gateway_labels(&resources) {
            proxies.push(proxy(NodeType::Router, &ns, labels));
        }
        let mut text = String::new();
        for p in &proxies {
            let (summary, verdict) = check(&reg, p, envoy.as_deref(), &dir, &stem);
            text.push_str(&summary);
            match verdict {
                Ok(()) => accepted += 1,
                Err(e) => rejected.push(format!("{stem} ({}): {e}", p.id)),
            }
        }
        let golden = golden_dir().join(format!("{stem}.txt"));
        if update {
            std::fs::create_dir_all(golden_dir()).expect("golden dir");
            std::fs::write(&golden, &text).expect("write golden");
        } else if std::fs::read_to_string(&golden).ok().as_deref() != Some(text.as_str()) {
            stale.push(format!("{}:\n{text}", golden.display()));
        }
    }
    eprintln!("{} files translated; {accepted} snapshots accepted by Envoy", files.len());
    let _ = std::fs::remove_dir_all(&dir);
    assert!(rejected.is_empty(), "Envoy rejected {} snapshots:\n{}", rejected.len(), rejected.join("\n"));
    assert!(stale.is_empty(), "goldens differ (STRAIT_UPDATE_GOLDEN=1 rewrites them):\n{}", stale.join("\n"));
}
