//! ServiceEntries in the registry: one service per host, each resolution, ports and target
//! ports, inline endpoints, workload selectors, the host as its own DNS endpoint, exportTo.

mod common;

use common::{registry, service};
use std::collections::BTreeMap;
use strait_registry::{Origin, Protocol, Resolution, Visibility};

fn se(name: &str, resolution: &str, extra: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: {name}, namespace: egress}}\nspec:\n  hosts: [{name}.example.com]\n  resolution: {resolution}\n  ports: [{{number: 443, name: https, protocol: HTTPS}}]\n{extra}"
    )
}

#[test]
fn each_resolution() {
    let cases = [
        ("none", "NONE", "", Resolution::Passthrough, vec![]),
        (
            "static",
            "STATIC",
            "  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2, ports: {https: 8443}}]\n",
            Resolution::Static,
            vec![("10.0.0.1", 443), ("10.0.0.2", 8443)],
        ),
        ("dns", "DNS", "", Resolution::Dns, vec![("dns.example.com", 443)]),
        ("rr", "DNS_ROUND_ROBIN", "", Resolution::DnsRoundRobin, vec![("rr.example.com", 443)]),
        (
            "dnsep",
            "DNS",
            "  endpoints: [{address: a.internal}, {address: b.internal}]\n",
            Resolution::Dns,
            vec![("a.internal", 443), ("b.internal", 443)],
        ),
        ("dyn", "DYNAMIC_DNS", "", Resolution::Dns, vec![]),
    ];
    for (name, resolution, extra, want, endpoints) in cases {
        let yaml = if name == "dyn" {
            // DYNAMIC_DNS takes wildcard hosts and HTTP or TLS ports only.
            se(name, resolution, "").replace("[dyn.example.com]", "[\"*.dyn.example.com\"]").replace("HTTPS", "TLS")
        } else {
            se(name, resolution, extra)
        };
        let reg = registry(&yaml);
        let s = &reg.services[0];
        assert_eq!(s.resolution, want, "{name}");
        assert_eq!(s.origin, Origin::ServiceEntry { internal: false });
        let protocol = if name == "dyn" { Protocol::Tls } else { Protocol::Https };
        assert_eq!((s.ports[0].number, s.ports[0].protocol), (443, protocol));
        let got: Vec<(&str, u32)> = s.endpoints.iter().map(|e| (e.address.as_str(), e.ports[&443])).collect();
        assert_eq!(got, endpoints, "{name}");
    }
}

#[test]
fn hosts_ports_and_inline_endpoints() {
    let yaml = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: data}
spec:
  hosts: [db.internal, db-replica.internal]
  addresses: [240.0.0.1/32, 240.1.0.0/16]
  location: MESH_INTERNAL
  resolution: STATIC
  exportTo: ["."]
  ports:
  - {number: 5432, name: tls-pg, protocol: TLS, targetPort: 15432}
  - {number: 8080, name: web, protocol: HTTP}
  endpoints:
  - address: 10.2.0.1
    labels: {version: v1, security.istio.io/tlsMode: istio}
    serviceAccount: db
    weight: 3
    locality: us-east1/a
  - address: 10.2.0.2
    ports: {web: 9000}
"#;
    let reg = registry(yaml);
    let hosts: Vec<&str> = reg.services.iter().map(|s| s.hostname.as_str()).collect();
    assert_eq!(hosts, ["db-replica.internal", "db.internal"]);
    let s = service(&reg, "db.internal");
    assert_eq!(s.origin, Origin::ServiceEntry { internal: true });
    assert_eq!(s.addresses, ["240.0.0.1", "240.1.0.0/16"]);
    assert_eq!(s.visibility, Visibility::Namespaces(vec!["data".into()]));
    let protocols: Vec<Protocol> = s.ports.iter().map(|p| p.protocol).collect();
    assert_eq!(protocols, [Protocol::Tls, Protocol::Http]);
    let (a, b) = (&s.endpoints[0], &s.endpoints[1]);
    assert_eq!(a.ports, BTreeMap::from([(5432, 15432), (8080, 8080)]));
    assert_eq!(b.ports, BTreeMap::from([(5432, 15432), (8080, 9000)]));
    assert_eq!((a.weight, a.locality.as_str(), a.service_account.as_str(), a.istio_tls), (3, "us-east1/a", "db", true));
    assert_eq!((b.weight, b.service_account.as_str(), b.istio_tls), (1, "", false));
    assert_eq!(a.labels.get("version").map(String::as_str), Some("v1"));
    assert_eq!(reg.config.service_entries.len(), 1);
}

#[test]
fn workload_selector_picks_pods_and_workload_entries_in_namespace() {
    let yaml = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vm, namespace: vms}
spec:
  hosts: [vm.vms.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}, {number: 81, name: plain}]
  workloadSelector: {labels: {app: vm}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: vms}
spec: {address: 10.3.0.1, labels: {app: vm}, serviceAccount: vm-sa, ports: {http: 9090}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-elsewhere, namespace: other}
spec: {address: 10.3.0.2, labels: {app: vm}}
---
apiVersion: v1
kind: Pod
metadata: {name: vm-pod, namespace: vms, labels: {app: vm}}
spec: {containers: [{name: c, image: c}]}
status: {podIP: 10.3.0.3}
"#;
    let reg = registry(yaml);
    let s = service(&reg, "vm.vms.svc.cluster.local");
    assert_eq!(s.ports[1].protocol, Protocol::Unknown, "no protocol: sniffed");
    let got: Vec<(&str, &str, u32, bool)> =
        s.endpoints.iter().map(|e| (e.address.as_str(), e.workload.as_str(), e.ports[&80], e.istio_tls)).collect();
    assert_eq!(got, [("10.3.0.1", "vm-1", 9090, true), ("10.3.0.3", "vm-pod", 8080, true)]);
    let workloads: Vec<(&str, &str, &str)> =
        reg.workloads.iter().map(|w| (w.namespace.as_str(), w.name.as_str(), w.service_account.as_str())).collect();
    assert_eq!(
        workloads,
        [("other", "vm-elsewhere", "default"), ("vms", "vm-1", "vm-sa"), ("vms", "vm-pod", "default")]
    );
}
