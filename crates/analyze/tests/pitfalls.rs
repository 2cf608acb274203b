//! The seeds' pitfalls, one fixture each (`tests/pitfalls/*.yaml`): every fixture holds the
//! broken config and a fixed variant, and the test checks that the pitfall's code is reported
//! for exactly the broken objects, with a message that names them and says what to do.

use std::collections::BTreeSet;
use std::path::PathBuf;
use strait_analyze::{Input, LoadOptions, Message, Options, RuntimeFacts};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pitfalls").join(name)
}

fn load(name: &str) -> Input {
    let mut input = strait_analyze::load(&[fixture(name).display().to_string()], &LoadOptions::default());
    assert!(input.load_errors.is_empty(), "{name}: {:?}", input.load_errors);
    input.add_default_ingress();
    input
}

fn analyze(input: &Input) -> Vec<Message> {
    strait_analyze::analyze(input, &Options::default())
}

/// Origins of the messages with `code`, and the messages themselves.
fn with_code<'a>(messages: &'a [Message], code: &str) -> (BTreeSet<String>, Vec<&'a Message>) {
    let found: Vec<&Message> = messages.iter().filter(|m| m.kind.code == code).collect();
    (found.iter().filter_map(|m| m.origin_name()).collect(), found)
}

fn expect(messages: &[Message], code: &str, origins: &[&str]) -> Vec<String> {
    let (got, found) = with_code(messages, code);
    let want: BTreeSet<String> = origins.iter().map(|s| s.to_string()).collect();
    let all: Vec<String> = messages.iter().map(ToString::to_string).collect();
    assert_eq!(got, want, "{code}:\n{}", all.join("\n"));
    let texts: Vec<String> = found.iter().map(|m| m.text()).collect();
    for t in &texts {
        assert!(t.contains("Fix: "), "{code} says what to do: {t}");
        assert!(!t.contains("%!"), "{code} has all its arguments: {t}");
    }
    texts
}

#[test]
fn str0001_str0002_port_names_that_select_the_wrong_protocol() {
    let m = analyze(&load("port-protocols.yaml"));
    let texts = expect(&m, "STR0001", &["Service bad/api", "Service bad/greeter", "ServiceEntry bad/payments"]);
    assert!(texts.iter().any(|t| t.contains(r#"container port "https" (8443) of Deployment bad/api"#)), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("gRPC needs HTTP/2") && t.contains(r#""grpc-api""#)), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("tls.mode: SIMPLE")), "{texts:?}");
    let texts = expect(&m, "STR0002", &["Service bad/git"]);
    assert!(texts[0].contains("SSH is a server-first protocol") && texts[0].contains(r#""tcp""#), "{texts:?}");
}

#[test]
fn str0003_destination_rule_subsets_no_route_uses() {
    let m = analyze(&load("unused-subsets.yaml"));
    let texts = expect(&m, "STR0003", &["DestinationRule bad/reviews"]);
    assert_eq!(texts.len(), 1, "only v2 is unused: {texts:?}");
    assert!(texts[0].contains(r#"Subset "v2""#) && texts[0].contains("trafficPolicy never applies"), "{texts:?}");
}

#[test]
fn str0004_gateway_routes_that_bypass_subset_routing() {
    let m = analyze(&load("gateway-subsets.yaml"));
    let texts = expect(&m, "STR0004", &["VirtualService bad/myapp"]);
    assert!(texts[0].contains("helloworld.bad.svc.cluster.local") && texts[0].contains("bad/helloworld"), "{texts:?}");
    // The seed's own example, spelled alike, is Istio's IST0140 (and only that).
    let (ist0140, _) = with_code(&m, "IST0140");
    assert_eq!(ist0140, BTreeSet::from(["VirtualService seed/myapp".to_string()]));
}

#[test]
fn str0005_tls_modes_that_conflict_with_peer_authentication() {
    let m = analyze(&load("mtls-conflicts.yaml"));
    let texts = expect(
        &m,
        "STR0005",
        &["DestinationRule strict/ratings", "DestinationRule plain/ratings", "DestinationRule meshwide/ratings"],
    );
    assert!(texts.iter().any(|t| t.contains("mode DISABLE") && t.contains("PeerAuthentication strict/default")));
    assert!(texts.iter().any(|t| t.contains("mode ISTIO_MUTUAL") && t.contains("only plaintext")));
    assert!(texts.iter().any(|t| t.contains("mode SIMPLE") && t.contains("PeerAuthentication istio-system/default")));
}

#[test]
fn str0006_one_certificate_shared_by_gateways_on_one_workload() {
    let m = analyze(&load("shared-certificates.yaml"));
    let texts = expect(&m, "STR0006", &["Gateway edge/gw-a", "Gateway edge/gw-b"]);
    assert!(texts[0].contains("Pod edge/edge-ingress") && texts[0].contains("wildcard-test-com"), "{texts:?}");
    assert!(with_code(&m, "IST0138").0.is_empty(), "IST0138 does not see these (different selectors)");
}

#[test]
fn str0007_external_hosts_without_a_service_entry_under_registry_only() {
    let m = analyze(&load("external-hosts.yaml"));
    let texts = expect(&m, "STR0007", &["Deployment shop/shop"]);
    let hosts: BTreeSet<&str> =
        ["dev701-db.cxqgj1lee4x0.eu-central-1.rds.amazonaws.com", "api.payments.example.com"].into();
    assert_eq!(texts.len(), 2, "{texts:?}");
    for h in hosts {
        assert!(texts.iter().any(|t| t.contains(h) && t.contains("REGISTRY_ONLY")), "{h}: {texts:?}");
    }
    // Under ALLOW_ANY the same config is fine.
    let mut input = load("external-hosts.yaml");
    input.objects.retain(|o| o.kind != "ConfigMap");
    input.mesh = None;
    assert!(with_code(&analyze(&input), "STR0007").0.is_empty());
}

#[test]
fn str0008_http10_upstreams() {
    let m = analyze(&load("http10.yaml"));
    let texts = expect(&m, "STR0008", &["ConfigMap web/nginx-legacy"]);
    assert!(texts[0].contains("Deployment web/frontend") && texts[0].contains("proxy_http_version 1.1"), "{texts:?}");
}

#[test]
fn str0009_to_str0011_apps_that_do_not_listen_where_the_sidecar_forwards() {
    let mut input = load("app-listeners.yaml");
    // Without runtime facts nothing is known, nothing is said.
    let none = analyze(&input);
    assert!(none.iter().all(|m| !matches!(m.kind.code, "STR0009" | "STR0010" | "STR0011")));
    let text = std::fs::read_to_string(fixture("app-listeners.facts")).unwrap();
    let doc = strait_config::yaml::parse_stream(&text).remove(0).unwrap().value;
    input.runtime = serde_json::from_value::<RuntimeFacts>(doc).unwrap();
    let m = analyze(&input);
    let texts = expect(&m, "STR0009", &["Deployment bookinfo/reviews-v1"]);
    assert!(texts[0].contains("127.0.0.1:9080 only") && texts[0].contains("to 10.1.0.5"), "{texts:?}");
    let texts = expect(&m, "STR0010", &["Service bookinfo/ratings"]);
    assert!(texts[0].contains("IPv4 only") && texts[0].contains("fd00:10:1::6 (IPv6)"), "{texts:?}");
    let texts = expect(&m, "STR0011", &["Service bookinfo/details"]);
    assert!(texts[0].contains("does not listen on port 9080"), "{texts:?}");
}
