//! Matching proxies to workloads: by pod name, by IP, metadata overrides, defaults; and host
//! lookups from a namespace.

mod common;

use common::registry;
use strait_registry::NodeId;
use strait_registry::hosts::{fqdn, service_for};
use strait_registry::identity::{ProxyMetadata, proxy_for};

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1-545db77b95-2mxwq, namespace: default, labels: {app: reviews, version: v1}}
spec: {serviceAccountName: bookinfo-reviews, containers: [{name: c, image: c}]}
status: {podIP: 127.0.0.21}
---
apiVersion: v1
kind: Pod
metadata: {name: ratings, namespace: default, labels: {app: ratings}}
spec: {containers: [{name: c, image: c}]}
status: {podIP: 127.0.0.22}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
"#;

fn node(id: &str) -> NodeId {
    NodeId::parse(id).expect("node id")
}

#[test]
fn by_pod_name() {
    let reg = registry(PODS);
    let id = node("sidecar~10.9.9.9~reviews-v1-545db77b95-2mxwq.default~default.svc.cluster.local");
    let p = proxy_for(&reg, id, &ProxyMetadata::default());
    assert_eq!(p.labels.get("version").map(String::as_str), Some("v1"));
    assert_eq!(p.service_account, "bookinfo-reviews");
    assert_eq!(p.workload_name, "reviews-v1");
    assert_eq!((p.outbound_port, p.captured, p.app_address.as_str()), (15001, false, "127.0.0.1"));
    assert_eq!(p.spiffe_id("cluster.local"), "spiffe://cluster.local/ns/default/sa/bookinfo-reviews");
    assert!(!p.reason_header, "x-strait-reason is off unless asked for");
}

#[test]
fn reason_header_from_the_mesh_default_proxy_config() {
    let mut reg = registry(PODS);
    let id = || node("sidecar~10.9.9.9~reviews-v1-545db77b95-2mxwq.default~default.svc.cluster.local");
    let pc = reg.mesh.default_config.get_or_insert_with(Default::default);
    pc.proxy_metadata.insert(strait_registry::identity::REASON_HEADER_PROXY_METADATA.into(), "True".into());
    assert!(proxy_for(&reg, id(), &ProxyMetadata::default()).reason_header);
    let pc = reg.mesh.default_config.get_or_insert_with(Default::default);
    pc.proxy_metadata.insert(strait_registry::identity::REASON_HEADER_PROXY_METADATA.into(), "false".into());
    assert!(!proxy_for(&reg, id(), &ProxyMetadata::default()).reason_header);
}

#[test]
fn by_ip_when_the_name_is_unknown() {
    let reg = registry(PODS);
    let id = node("sidecar~127.0.0.22~some-other-name.default~default.svc.cluster.local");
    let p = proxy_for(&reg, id, &ProxyMetadata::default());
    assert_eq!(p.labels.get("app").map(String::as_str), Some("ratings"));
    assert_eq!((p.service_account.as_str(), p.workload_name.as_str()), ("default", "ratings"));
}

#[test]
fn metadata_overrides_and_unknown_proxies() {
    let reg = registry(PODS);
    let meta = ProxyMetadata {
        labels: Some([("app".to_string(), "custom".to_string())].into()),
        service_account: Some("sa".into()),
        workload_name: Some("wl".into()),
        outbound_port: Some(16001),
        captured: true,
        app_address: Some("127.0.0.50".into()),
        reason_header: true,
    };
    let id = node("sidecar~127.0.0.21~reviews-v1-545db77b95-2mxwq.default~default.svc.cluster.local");
    let p = proxy_for(&reg, id, &meta);
    assert_eq!(p.labels.get("app").map(String::as_str), Some("custom"));
    assert_eq!((p.service_account.as_str(), p.workload_name.as_str()), ("sa", "wl"));
    assert_eq!((p.outbound_port, p.captured, p.app_address.as_str()), (16001, true, "127.0.0.50"));
    assert!(p.reason_header, "the node's STRAIT_REASON_HEADER turns x-strait-reason on");

    let stranger = node("router~10.0.0.1~gw-5d8f9c7b6d-x7k2q.istio-system~istio-system.svc.cluster.local");
    let p = proxy_for(&reg, stranger, &ProxyMetadata::default());
    assert!(p.labels.is_empty());
    assert_eq!((p.service_account.as_str(), p.workload_name.as_str()), ("default", "gw"));
}

#[test]
fn short_hosts_resolve_to_registry_services() {
    let reg = registry(PODS);
    let host = fqdn("reviews", "default", &reg.domain);
    let s = service_for(&reg, &host, "default").expect("reviews");
    assert_eq!(s.endpoints.len(), 1);
    assert!(service_for(&reg, "reviews.default", "default").is_none(), "dotted names are taken as written");
}
