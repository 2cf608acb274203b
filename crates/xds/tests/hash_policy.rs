//! Consistent hashing: a DestinationRule's `consistentHash` becomes the route's `hash_policy`
//! (default routes and VirtualService routes; the subset's policy wins; weighted routes only
//! when every destination agrees).

#[path = "lds_rds_fixture/mod.rs"]
mod lds_rds_fixture;

use envoy_types::pb::envoy::config::route::v3::route::Action;
use envoy_types::pb::envoy::config::route::v3::route_action::hash_policy::PolicySpecifier;
use envoy_types::pb::envoy::config::route::v3::{RouteAction, RouteConfiguration};
use lds_rds_fixture::{bookinfo, proxy};
use strait_config::{LoadOptions, LoadReport, load_text};
use strait_model::Resource;
use strait_registry::Registry;

fn add(reg: &mut Registry, text: &str) {
    let mut report = LoadReport::default();
    load_text("test.yaml", text, &LoadOptions::default(), &mut report);
    assert_eq!(report.errors(), 0, "{:?}", report.findings);
    for l in report.resources {
        match l.resource {
            Resource::VirtualService(vs) => reg.config.virtual_services.push(vs),
            Resource::DestinationRule(dr) => reg.config.destination_rules.push(dr),
            _ => {}
        }
    }
}

fn actions(reg: &Registry, vhost: &str) -> Vec<RouteAction> {
    let p = proxy("127.0.0.10", "default");
    let snap = strait_xds::generate(reg, &p);
    let rc: &RouteConfiguration = snap.routes.iter().find(|r| r.name == "9080").expect("route config 9080");
    let vh = rc.virtual_hosts.iter().find(|v| v.name == vhost).expect("virtual host");
    vh.routes
        .iter()
        .filter_map(|r| match &r.action {
            Some(Action::Route(a)) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

fn specifiers(a: &RouteAction) -> Vec<PolicySpecifier> {
    a.hash_policy.iter().filter_map(|h| h.policy_specifier.clone()).collect()
}

#[test]
fn destination_rule_consistent_hash_becomes_route_hash_policy() {
    let mut reg = bookinfo();
    add(
        &mut reg,
        r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: default}
spec:
  host: ratings
  trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: user, ttl: 60s}}}}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true}}}
  - name: v2
    labels: {version: v2}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: default}
spec:
  hosts: [ratings]
  http:
  - match: [{headers: {x-pin: {exact: "1"}}}]
    route: [{destination: {host: ratings, subset: v1}}]
  - match: [{headers: {x-split: {exact: "1"}}}]
    route:
    - {destination: {host: ratings, subset: v1}, weight: 50}
    - {destination: {host: ratings, subset: v2}, weight: 50}
  - route: [{destination: {host: ratings, subset: v2}}]
"#,
    );
    // Default route (no VirtualService): the header hash.
    let reviews = actions(&reg, "reviews.default.svc.cluster.local:9080");
    assert!(
        matches!(specifiers(&reviews[0]).as_slice(), [PolicySpecifier::Header(h)] if h.header_name == "x-user"),
        "{:?}",
        reviews[0].hash_policy
    );
    let ratings = actions(&reg, "ratings.default.svc.cluster.local:9080");
    // Subset v1's own policy (source IP) wins over the top-level cookie.
    assert!(matches!(specifiers(&ratings[0]).as_slice(), [PolicySpecifier::ConnectionProperties(c)] if c.source_ip));
    // v1 and v2 disagree (source IP vs cookie): no hash policy on the weighted route.
    assert!(ratings[1].hash_policy.is_empty(), "{:?}", ratings[1].hash_policy);
    // Subset v2 inherits the top-level cookie, with its TTL.
    assert!(
        matches!(specifiers(&ratings[2]).as_slice(), [PolicySpecifier::Cookie(c)] if c.name == "user" && c.ttl.as_ref().is_some_and(|t| t.seconds == 60))
    );
    // Details has no DestinationRule: no hash policy.
    assert!(actions(&reg, "details.default.svc.cluster.local:9080")[0].hash_policy.is_empty());
}
