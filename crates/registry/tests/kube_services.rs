//! Kubernetes Services in the registry: hostnames, addresses, ports and protocols, endpoints
//! from Pods (files mode), EndpointSlices and Endpoints, visibility, and Istio's Bookinfo read
//! in place.

mod common;

use common::{load_files, registry, service};
use std::collections::BTreeMap;
use strait_registry::{Origin, Protocol, Resolution, ServicePort, Visibility};

const REVIEWS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default, labels: {app: reviews}}
spec:
  clusterIP: 10.96.0.20
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080}
  - {name: grpc-api, port: 9090, targetPort: grpc}
  - {name: metrics, port: 9100, targetPort: 15020, appProtocol: http}
---
apiVersion: v1
kind: Pod
metadata:
  name: reviews-v1-545db77b95-2mxwq
  namespace: default
  labels: {app: reviews, version: v1}
spec:
  serviceAccountName: bookinfo-reviews
  containers:
  - name: reviews
    image: reviews
    ports: [{containerPort: 9080}, {name: grpc, containerPort: 7070}]
status: {podIP: 127.0.0.21}
---
apiVersion: v1
kind: Pod
metadata:
  name: reviews-v2-7d6cfb7dfd-5x9xz
  namespace: default
  labels: {app: reviews, version: v2}
  annotations: {sidecar.istio.io/inject: "false"}
spec:
  containers: [{name: reviews, image: reviews}]
status:
  podIP: 127.0.0.22
  conditions: [{type: Ready, status: "False"}]
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: default, labels: {app: other}}
spec: {containers: [{name: c, image: c}]}
status: {podIP: 127.0.0.23}
"#;

#[test]
fn service_from_pods() {
    let reg = registry(REVIEWS);
    let s = service(&reg, "reviews.default.svc.cluster.local");
    assert_eq!((s.namespace.as_str(), &s.origin, s.resolution), ("default", &Origin::Kubernetes, Resolution::Static));
    assert_eq!(s.addresses, ["10.96.0.20"]);
    assert_eq!(s.visibility, Visibility::Public);
    let ports: Vec<(u32, &str, Protocol)> = s.ports.iter().map(|p| (p.number, p.name.as_str(), p.protocol)).collect();
    assert_eq!(
        ports,
        [(9080, "http", Protocol::Http), (9090, "grpc-api", Protocol::Grpc), (9100, "metrics", Protocol::Http)]
    );

    let addrs: Vec<&str> = s.endpoints.iter().map(|e| e.address.as_str()).collect();
    assert_eq!(addrs, ["127.0.0.21", "127.0.0.22"]);
    let (v1, v2) = (&s.endpoints[0], &s.endpoints[1]);
    // The named target port `grpc` exists on v1 only.
    assert_eq!(v1.ports, BTreeMap::from([(9080, 9080), (9090, 7070), (9100, 15020)]));
    assert_eq!(v2.ports, BTreeMap::from([(9080, 9080), (9100, 15020)]));
    assert_eq!(v1.labels.get("version").map(String::as_str), Some("v1"));
    assert_eq!(v2.labels.get("version").map(String::as_str), Some("v2"));
    assert_eq!((v1.service_account.as_str(), v2.service_account.as_str()), ("bookinfo-reviews", "default"));
    assert_eq!((v1.workload.as_str(), v1.namespace.as_str()), ("reviews-v1-545db77b95-2mxwq", "default"));
    assert_eq!((v1.istio_tls, v2.istio_tls), (true, false), "files mode: sidecar unless inject=false");
    assert_eq!((v1.ready, v2.ready), (true, false), "Ready=False");
    assert_eq!((v1.weight, v2.weight), (1, 1));

    let workloads: Vec<(&str, &str)> = reg.workloads.iter().map(|w| (w.name.as_str(), w.ip.as_str())).collect();
    assert_eq!(
        workloads,
        [
            ("other", "127.0.0.23"),
            ("reviews-v1-545db77b95-2mxwq", "127.0.0.21"),
            ("reviews-v2-7d6cfb7dfd-5x9xz", "127.0.0.22")
        ]
    );
    let v1w = &reg.workloads[1];
    assert_eq!(v1w.ports, BTreeMap::from([("9080".to_string(), 9080), ("grpc".to_string(), 7070)]));
    assert_eq!(v1w.service_account, "bookinfo-reviews");
}

const SLICES: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: shop, annotations: {networking.istio.io/exportTo: "., frontend"}}
spec:
  selector: {app: ratings}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: tcp-db, port: 5432}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ratings-abc, namespace: shop, labels: {kubernetes.io/service-name: ratings}}
addressType: IPv4
ports: [{name: http, port: 8080}, {name: tcp-db, port: 5432}]
endpoints:
- addresses: [10.1.0.5]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: ratings-1, namespace: shop}
- addresses: [10.1.0.6]
  conditions: {ready: false}
---
apiVersion: v1
kind: Pod
metadata: {name: ratings-1, namespace: shop, labels: {app: ratings, version: v1, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: ratings, containers: [{name: c, image: c}]}
status: {podIP: 10.1.0.5}
---
apiVersion: v1
kind: Pod
metadata: {name: ratings-ignored, namespace: shop, labels: {app: ratings}}
spec: {containers: [{name: c, image: c}]}
status: {podIP: 10.1.0.9}
"#;

#[test]
fn endpoint_slices_win_over_pods() {
    let reg = registry(SLICES);
    let s = service(&reg, "ratings.shop.svc.cluster.local");
    assert!(s.addresses.is_empty());
    assert_eq!(s.visibility, Visibility::Namespaces(vec!["frontend".into(), "shop".into()]));
    assert_eq!(s.ports[1], ServicePort { number: 5432, name: "tcp-db".into(), protocol: Protocol::Tcp });
    let got: Vec<(&str, bool, bool, &str)> =
        s.endpoints.iter().map(|e| (e.address.as_str(), e.ready, e.istio_tls, e.service_account.as_str())).collect();
    assert_eq!(got, [("10.1.0.5", true, true, "ratings"), ("10.1.0.6", false, false, "")]);
    assert_eq!(s.endpoints[0].ports, BTreeMap::from([(80, 8080), (5432, 5432)]));
    assert_eq!(s.endpoints[0].labels.get("version").map(String::as_str), Some("v1"));
}

const ENDPOINTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: default}
spec:
  clusterIP: None
  ports: [{name: web, port: 80}, {port: 53, protocol: UDP, name: dns}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: legacy, namespace: default}
subsets:
- addresses: [{ip: 192.168.1.1}]
  notReadyAddresses: [{ip: 192.168.1.2}]
  ports: [{name: web, port: 8000}, {name: dns, port: 5353}]
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec: {type: ExternalName, externalName: api.example.com, ports: [{name: https, port: 443}]}
"#;

#[test]
fn endpoints_headless_udp_and_external_name() {
    let reg = registry(ENDPOINTS);
    let s = service(&reg, "legacy.default.svc.cluster.local");
    assert_eq!(s.resolution, Resolution::Passthrough);
    assert!(s.addresses.is_empty());
    let protocols: Vec<Protocol> = s.ports.iter().map(|p| p.protocol).collect();
    assert_eq!(protocols, [Protocol::Unknown, Protocol::Udp]);
    let got: Vec<(&str, bool)> = s.endpoints.iter().map(|e| (e.address.as_str(), e.ready)).collect();
    assert_eq!(got, [("192.168.1.1", true), ("192.168.1.2", false)]);
    assert_eq!(s.endpoints[0].ports, BTreeMap::from([(80, 8000), (53, 5353)]));

    let e = service(&reg, "ext.default.svc.cluster.local");
    assert_eq!(e.resolution, Resolution::Dns);
    assert_eq!(e.ports[0].protocol, Protocol::Https);
    assert_eq!(e.endpoints[0].address, "api.example.com");
    assert_eq!(e.endpoints[0].ports, BTreeMap::from([(443, 443)]));
}

#[test]
fn mesh_default_export_to_applies() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: |\n    defaultServiceExportTo: [\".\"]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: x}\nspec: {ports: [{port: 80}]}\n";
    let reg = registry(yaml);
    assert_eq!(service(&reg, "a.x.svc.cluster.local").visibility, Visibility::Namespaces(vec!["x".into()]));
    assert_eq!(reg.mesh.effective_trust_domain(), "cluster.local");
}

#[test]
fn bookinfo_from_istio_samples() {
    let Some(corpus) = strait_testkit::istio_corpus() else { return };
    let files =
        ["samples/bookinfo/platform/kube/bookinfo.yaml", "samples/bookinfo/networking/destination-rule-all.yaml"];
    let paths: Vec<String> = files.iter().map(|f| corpus.join(f).to_string_lossy().into_owned()).collect();
    let reg = strait_registry::build::build(&load_files(&paths));
    let hosts: Vec<&str> = reg.services.iter().map(|s| s.hostname.as_str()).collect();
    assert_eq!(
        hosts,
        [
            "details.default.svc.cluster.local",
            "productpage.default.svc.cluster.local",
            "ratings.default.svc.cluster.local",
            "reviews.default.svc.cluster.local"
        ]
    );
    for s in &reg.services {
        assert_eq!(
            s.ports,
            [ServicePort { number: 9080, name: "http".into(), protocol: Protocol::Http }],
            "{}",
            s.hostname
        );
        assert_eq!((s.resolution, &s.visibility), (Resolution::Static, &Visibility::Public));
        assert!(s.endpoints.is_empty(), "no pods in the manifests");
    }
    assert_eq!(reg.config.destination_rules.len(), 4);
    assert!(reg.workloads.is_empty());
    assert_eq!(reg.domain, "cluster.local");
}
