use super::*;

fn node() -> Local {
    let md = BTreeMap::from([
        ("NAMESPACE".to_string(), "default".to_string()),
        ("POD_NAME".to_string(), "productpage-v1-7d6cfb7dfd-5x9xz".to_string()),
    ]);
    let labels =
        BTreeMap::from([("app".to_string(), "productpage".to_string()), ("version".to_string(), "v1".to_string())]);
    Local::from_node(&md, &labels)
}

fn get<'a>(l: &'a Labels, k: &str) -> &'a str {
    l.iter().find(|(n, _)| *n == k).map_or("<missing>", |(_, v)| v.as_str())
}

#[test]
fn local_workload_fills_gaps_like_the_injector() {
    let l = node();
    assert_eq!(l.workload, "productpage-v1", "the Deployment of a ReplicaSet pod");
    assert_eq!((l.canonical_service.as_str(), l.canonical_revision.as_str()), ("productpage", "v1"));
    assert_eq!((l.namespace.as_str(), l.cluster.as_str()), ("default", "Kubernetes"));
    let md =
        BTreeMap::from([("WORKLOAD_NAME".to_string(), "pp".to_string()), ("CLUSTER_ID".to_string(), "c1".to_string())]);
    let bare = Local::from_node(&md, &BTreeMap::new());
    assert_eq!((bare.workload.as_str(), bare.canonical_service.as_str()), ("pp", "pp"));
    assert_eq!((bare.canonical_revision.as_str(), bare.cluster.as_str(), bare.app.as_str()), ("latest", "c1", ""));
}

#[test]
fn outbound_labels_come_from_cluster_and_endpoint_metadata() {
    let svc = Service { host: "reviews.default.svc.cluster.local".into(), name: "reviews".into() };
    let w = Workload::parse("reviews-v2;default;reviews;v2;Kubernetes").expect("five parts");
    let peer = Peer {
        cluster: Some("outbound|9080||reviews.default.svc.cluster.local"),
        authority: Some("reviews:9080"),
        service: Some(&svc),
        workload: Some(&w),
        ..Peer::default()
    };
    let mut l = peer_labels(&node(), &peer);
    http_tail(&mut l, false, None, 200, "");
    let want = [
        ("reporter", "source"),
        ("source_workload", "productpage-v1"),
        ("source_workload_namespace", "default"),
        ("source_principal", "unknown"),
        ("source_app", "productpage"),
        ("destination_workload", "reviews-v2"),
        ("destination_workload_namespace", "default"),
        ("destination_app", "unknown"),
        ("destination_service", "reviews.default.svc.cluster.local"),
        ("destination_service_name", "reviews"),
        ("destination_service_namespace", "default"),
        ("destination_canonical_revision", "v2"),
        ("destination_cluster", "Kubernetes"),
        ("request_protocol", "http"),
        ("response_code", "200"),
        ("grpc_response_status", ""),
        ("response_flags", "-"),
        ("connection_security_policy", "unknown"),
    ];
    for (k, v) in want {
        assert_eq!(get(&l, k), v, "{k}");
    }
    assert_eq!(l.len(), 25, "Istio's 25 labels: {l:?}");
    assert_eq!(l[0].0, "reporter");
}

#[test]
fn unknown_destinations_fall_back_like_istio() {
    // No endpoint metadata, no cluster metadata: the Host header names the service.
    let peer = Peer { cluster: Some("outbound|80||x"), authority: Some("x:80"), ..Peer::default() };
    let mut l = peer_labels(&node(), &peer);
    http_tail(&mut l, false, Some("14"), 503, "UH");
    assert_eq!(get(&l, "destination_service"), "x:80");
    assert_eq!(get(&l, "destination_service_name"), "x:80");
    assert_eq!(get(&l, "destination_workload"), "unknown");
    assert_eq!(get(&l, "destination_canonical_revision"), "latest");
    assert_eq!((get(&l, "request_protocol"), get(&l, "grpc_response_status")), ("grpc", "14"));
    assert_eq!(get(&l, "response_flags"), "UH");
    // Special clusters and routes name themselves.
    let pass = Peer { cluster: Some("PassthroughCluster"), authority: Some("example.com"), ..Peer::default() };
    let l = peer_labels(&node(), &pass);
    assert_eq!(
        (get(&l, "destination_service"), get(&l, "destination_service_name")),
        ("example.com", "PassthroughCluster")
    );
    let svc = Service { host: "h".into(), name: "n".into() };
    let blocked = Peer { route: Some("block_all"), service: Some(&svc), ..Peer::default() };
    let l = peer_labels(&node(), &blocked);
    assert_eq!((get(&l, "destination_service"), get(&l, "destination_service_name")), ("unknown", "BlackHoleCluster"));
}

#[test]
fn inbound_reports_as_destination() {
    let svc = Service { host: "productpage.default.svc.cluster.local".into(), name: "productpage".into() };
    let peer = Peer { inbound: true, cluster: Some("inbound|9080||"), service: Some(&svc), ..Peer::default() };
    let mut l = peer_labels(&node(), &peer);
    tcp_tail(&mut l, true, "");
    assert_eq!(get(&l, "reporter"), "destination");
    assert_eq!((get(&l, "source_workload"), get(&l, "source_canonical_revision")), ("unknown", "latest"));
    assert_eq!((get(&l, "destination_workload"), get(&l, "destination_version")), ("productpage-v1", "v1"));
    assert_eq!(get(&l, "destination_service"), "productpage.default.svc.cluster.local");
    assert_eq!(get(&l, "destination_service_namespace"), "default");
    assert_eq!((get(&l, "request_protocol"), get(&l, "connection_security_policy")), ("tcp", "none"));
    assert!(l.iter().all(|(k, _)| *k != "response_code"), "TCP metrics carry no response code");
}

#[test]
fn grpc_status_and_detection() {
    assert_eq!(grpc_status(Some(5), 200), Some(5));
    assert_eq!(grpc_status(None, 503), Some(14));
    assert_eq!(grpc_status(None, 404), Some(12));
    assert_eq!(grpc_status(None, 200), Some(2));
    assert_eq!(grpc_status(None, 0), None);
    let ct = |s: &'static str| http::HeaderValue::from_static(s);
    assert!(is_grpc(Some(&ct("application/grpc"))) && is_grpc(Some(&ct("application/grpc+proto"))));
    assert!(!is_grpc(Some(&ct("application/grpcx"))) && !is_grpc(Some(&ct("text/plain"))) && !is_grpc(None));
    assert_eq!(Workload::parse("a;b;c;d"), None, "four parts are no workload");
}
