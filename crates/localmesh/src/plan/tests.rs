//! The plan on real manifests: names, addresses, sidecars, environment, commands, probes, and
//! the Pod objects as the registry reads them.

use super::*;

const MANIFESTS: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: bookinfo-reviews}
---
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {color: red}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v2}
spec:
  replicas: 2
  selector: {matchLabels: {app: reviews, version: v2}}
  template:
    metadata: {labels: {app: reviews, version: v2}}
    spec:
      serviceAccountName: bookinfo-reviews
      containers:
      - name: reviews
        image: example/reviews:v2
        command: [strait, demo-app, reviews]
        args: [--version, v2, --listen, "$(POD_IP):$(PORT)"]
        env:
        - {name: PORT, value: "9080"}
        - name: STAR_COLOR
          valueFrom: {configMapKeyRef: {name: settings, key: color}}
        ports: [{name: http, containerPort: 9080}]
        readinessProbe:
          httpGet: {path: /ready, port: http}
          periodSeconds: 2
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: books-api, namespace: external}
spec:
  selector: {matchLabels: {app: books-api}}
  template:
    metadata: {labels: {app: books-api}}
    spec:
      hostNetwork: true
      containers:
      - name: api
        command: [strait, demo-app, books-api]
        readinessProbe: {tcpSocket: {port: 8443}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: plain}
spec:
  selector: {matchLabels: {app: plain}}
  template:
    metadata:
      labels: {app: plain}
      annotations: {sidecar.istio.io/inject: "false", proxy.istio.io/config: "holdApplicationUntilProxyStarts: false"}
    spec:
      containers: [{name: plain, command: [sleep, "1000"]}]
"#;

fn load(text: &str) -> Vec<Resource> {
    let mut report = strait_config::LoadReport::default();
    strait_config::load_text("test.yaml", text, &strait_config::LoadOptions::default(), &mut report);
    assert_eq!(report.errors(), 0, "{:?}", report.findings);
    report.resources.into_iter().map(|l| l.resource).collect()
}

fn find<'a>(plan: &'a Plan, deployment: &str) -> Vec<&'a PodPlan> {
    plan.pods.iter().filter(|p| p.deployment == deployment).collect()
}

#[test]
fn deployments_become_pods() {
    let plan = plan(&load(MANIFESTS), Network::Loopback).expect("plans");
    // Sorted by (namespace, name): default/plain, default/reviews-v2 ×2, external/books-api.
    let order: Vec<&str> = plan.pods.iter().map(|p| p.deployment.as_str()).collect();
    assert_eq!(order, ["plain", "reviews-v2", "reviews-v2", "books-api"]);
    let reviews = find(&plan, "reviews-v2");
    let r = reviews[0];
    assert!(r.name.starts_with("reviews-v2-") && r.name.len() == "reviews-v2-".len() + 16, "{}", r.name);
    assert_ne!(reviews[0].name, reviews[1].name);
    assert_eq!(r.labels.get("pod-template-hash").map(String::len), Some(10));
    assert_eq!(r.service_account, "bookinfo-reviews");
    assert_eq!((r.ip.to_string(), r.app_ip.to_string()), ("127.10.1.2".into(), "127.11.1.2".into()));
    assert_eq!(reviews[1].ip.to_string(), "127.10.1.3");
    assert!(r.sidecar && r.hold_until_proxy_starts);
    assert_eq!(r.ports, vec![(Some("http".to_string()), 9080)]);
    let c = &r.containers[0];
    assert_eq!(c.argv, ["strait", "demo-app", "reviews", "--version", "v2", "--listen", "127.11.1.2:9080"]);
    let env = |k: &str| c.env.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(env("STAR_COLOR"), Some("red"));
    assert_eq!(env("POD_IP"), Some("127.11.1.2"));
    assert_eq!(env("HTTP_PROXY"), Some("http://127.10.1.2:15001"));
    assert_eq!(env("POD_NAME"), Some(r.name.as_str()));
    let probe = c.readiness.as_ref().expect("probe");
    assert_eq!(probe.action, ProbeAction::Http { host: "127.11.1.2".into(), port: 9080, path: "/ready".into() });
    assert_eq!((probe.period.as_secs(), probe.failure_threshold), (2, 3));

    let plain = find(&plan, "plain")[0];
    assert!(!plain.sidecar && !plain.hold_until_proxy_starts);
    assert_eq!((plain.ip, plain.app_ip), (plain.ip, plain.ip), "no sidecar: the app binds the pod IP");
    assert_eq!(plain.containers[0].env.iter().find(|(k, _)| k == "HTTP_PROXY"), None);

    let api = find(&plan, "books-api")[0];
    assert_eq!((api.ip, api.app_ip, api.sidecar), (Network::Loopback.node_ip(), Network::Loopback.node_ip(), false));
    let probe = api.containers[0].readiness.as_ref().expect("probe");
    assert_eq!(probe.action, ProbeAction::Tcp { host: "127.10.0.1".into(), port: 8443 });
}

#[test]
fn capture_mode_sets_no_proxy_variables() {
    let plan = plan(&load(MANIFESTS), Network::Netns).expect("plans");
    let r = find(&plan, "reviews-v2")[0];
    assert!(r.containers[0].env.iter().all(|(k, _)| !k.to_ascii_lowercase().contains("proxy")));
    // One address per pod in its own namespace: the app binds the pod IP.
    assert_eq!((r.ip.to_string(), r.app_ip.to_string()), ("198.18.1.2".into(), "198.18.1.2".into()));
    let api = find(&plan, "books-api")[0];
    assert_eq!((api.ip.to_string(), api.host_ip.to_string()), ("198.19.255.1".into(), "198.19.255.1".into()));
    let c = &r.containers[0];
    assert!(c.argv.contains(&"198.18.1.2:9080".to_string()), "{:?}", c.argv);
    // Service names resolve in the pods: a Service without clusterIP gets a name-only address.
    assert_eq!(
        plan.services,
        vec![("reviews".to_string(), "default".to_string(), std::net::Ipv4Addr::new(198, 19, 0, 1))]
    );
}

#[test]
fn problems_name_the_object() {
    let cases = [
        ("containers: [{name: web, image: nginx}]", "Deployment default/web: container \"web\": no command"),
        (
            "containers: [{name: web, command: [x], env: [{name: U, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}]}]",
            "metadata.uid",
        ),
        (
            "containers: [{name: web, command: [x], readinessProbe: {httpGet: {port: admin}}}]",
            "probe port \"admin\" names no port",
        ),
        (
            "containers: [{name: web, command: [x], env: [{name: C, valueFrom: {configMapKeyRef: {name: none, key: k}}}]}]",
            "ConfigMap default/none has no key \"k\"",
        ),
    ];
    for (spec, want) in cases {
        let text = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      {spec}\n"
        );
        let errors = plan(&load(&text), Network::Loopback).expect_err(spec);
        assert!(errors.iter().any(|e| e.contains(want)), "{spec}: {errors:?}");
    }
}

#[test]
fn pod_objects_feed_the_registry() {
    let resources = load(MANIFESTS);
    let plan = plan(&resources, Network::Loopback).expect("plans");
    let reviews = find(&plan, "reviews-v2");
    let text = object::list([(reviews[0], true), (reviews[1], false)]);
    let mut all = resources.clone();
    all.extend(load(&text));
    let registry = strait_registry::build::build(&all);
    let svc = registry.services.iter().find(|s| s.hostname.starts_with("reviews.")).expect("reviews service");
    let mut eps: Vec<(String, bool)> = svc.endpoints.iter().map(|e| (e.address.clone(), e.ready)).collect();
    eps.sort();
    assert_eq!(eps, vec![("127.10.1.2".to_string(), true), ("127.10.1.3".to_string(), false)]);
    let w = registry.workloads.iter().find(|w| w.name == reviews[0].name).expect("workload");
    assert_eq!(
        (w.service_account.as_str(), w.labels.get("version").map(String::as_str)),
        ("bookinfo-reviews", Some("v2"))
    );
}
