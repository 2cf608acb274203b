//! DestinationRule, ServiceEntry, WorkloadEntry and WorkloadGroup: documents decoded with
//! `Resource::decode` and checked with `Resource::validate`. Invalid cases assert the path and
//! Istio's wording of the error; hand-written valid cases must produce no error. Istio's own
//! corpus documents are checked in place by `crates/config/tests/istio_corpus.rs`.

#[path = "destination_service_entry_cases/cases.rs"]
mod cases;

use cases::{Case, lb, tp};
use serde_json::{Value, json};
use strait_model::{Issue, Kind, Resource, Severity};

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::DestinationRule => "DestinationRule",
        Kind::ServiceEntry => "ServiceEntry",
        Kind::WorkloadEntry => "WorkloadEntry",
        _ => "WorkloadGroup",
    }
}

/// Wraps `spec` in a resource of `kind` named `x` in namespace `default`.
fn doc(kind: Kind, spec: Value) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": kind_name(kind),
        "metadata": {"name": "x", "namespace": "default"},
        "spec": spec,
    })
}

fn validate(kind: Kind, document: Value) -> Vec<Issue> {
    match Resource::decode(kind, document) {
        Ok(resource) => resource.validate(),
        Err(e) => panic!("decode failed: {e}"),
    }
}

fn errors(issues: &[Issue]) -> Vec<String> {
    issues.iter().filter(|i| i.severity == Severity::Error).map(ToString::to_string).collect()
}

#[test]
fn invalid_cases_report_path_and_message() {
    let cases: Vec<Case> = cases::destination_rule_cases()
        .into_iter()
        .chain(cases::service_entry_cases())
        .chain(cases::workload_cases())
        .collect();
    assert!(cases.len() >= 20);
    for (name, kind, spec, path, message) in cases {
        let issues = validate(kind, doc(kind, spec));
        let found = issues
            .iter()
            .any(|i| i.severity == Severity::Error && i.path.to_string() == path && i.message.contains(message));
        assert!(found, "{name}: want error at {path} containing {message:?}, got {:?}", errors(&issues));
    }
}

#[test]
fn valid_specs_have_no_errors() {
    let specs = [
        (
            Kind::DestinationRule,
            json!({
                "host": "*.example.com",
                "trafficPolicy": {
                    "loadBalancer": {
                        "simple": "LEAST_REQUEST",
                        "zoneAwareLbSetting": {"enabled": true, "failover": [{"from": "a", "to": "b"}], "minClusterSize": 3},
                        "warmup": {"duration": "30s", "minimumPercent": 10.0, "aggression": 1.5}
                    },
                    "connectionPool": {
                        "tcp": {"maxConnections": 100, "connectTimeout": "1s", "idleTimeout": "0s",
                                "tcpKeepalive": {"probes": 3, "time": "60s", "interval": "10s"}},
                        "http": {"h2UpgradePolicy": "UPGRADE", "maxRequestsPerConnection": 1, "maxConcurrentStreams": 10}
                    },
                    "outlierDetection": {"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s",
                                         "splitExternalLocalOriginErrors": true, "consecutiveLocalOriginFailures": 2,
                                         "outlierDetectionHttpErrorCodes": [502, 503]},
                    "tls": {"mode": "MUTUAL", "credentialName": "client-cert", "sni": "a.example.com"},
                    "portLevelSettings": [{"port": {"number": 443}, "tls": {"mode": "SIMPLE", "credentialName": "configmap://default/ca"}}],
                    "tunnel": {"protocol": "CONNECT", "targetHost": "10.0.0.1", "targetPort": 3128},
                    "retryBudget": {"percent": 20.0, "minRetryConcurrency": 3, "budgetInterval": "10s"}
                },
                "subsets": [{"name": "v1", "labels": {"version": "v1"},
                             "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpCookie": {"name": "u", "ttl": "0s",
                                 "attributes": [{"name": "SameSite", "value": "Strict"}]}, "ringHash": {"minimumRingSize": 1024}}}}}],
                "exportTo": ["."],
                "workloadSelector": {"matchLabels": {"app": "client"}}
            }),
        ),
        (
            Kind::DestinationRule,
            json!({"host": "reviews", "trafficPolicy": {"loadBalancer": {"localityLbSetting": {
                "distribute": [{"from": "us-west/zone1/*", "to": {"us-west/zone1/*": 80, "us-west/zone2/*": 20}}]
            }}}}),
        ),
        (
            Kind::ServiceEntry,
            json!({"hosts": ["*.wikipedia.org"], "resolution": "DYNAMIC_DNS", "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]}),
        ),
        (
            Kind::ServiceEntry,
            json!({"hosts": ["a.local"], "resolution": "STATIC", "ports": [{"number": 80, "name": "http"}],
                    "endpoints": [{"address": "unix:///run/a.sock"}], "location": "MESH_INTERNAL"}),
        ),
        (
            Kind::ServiceEntry,
            json!({"hosts": ["db.internal"], "addresses": ["10.0.0.0/24"], "resolution": "STATIC",
                    "ports": [{"number": 5432, "name": "pg", "protocol": "TCP", "targetPort": 15432}],
                    "endpoints": [{"address": "10.0.0.5", "ports": {"pg": 5433}, "weight": 2, "locality": "r/z"}],
                    "exportTo": ["~"], "subjectAltNames": ["spiffe://cluster.local/ns/db/sa/pg"]}),
        ),
        (Kind::WorkloadEntry, json!({"address": "vm1.example.com", "ports": {"http": 8080}, "serviceAccount": "vm"})),
        (
            Kind::WorkloadGroup,
            json!({"template": {"serviceAccount": "vm", "labels": {"app": "vm"}},
                    "probe": {"periodSeconds": 5, "exec": {"command": ["/bin/check", "--ready"]}}}),
        ),
    ];
    for (i, (kind, spec)) in specs.into_iter().enumerate() {
        let issues = validate(kind, doc(kind, spec));
        assert!(errors(&issues).is_empty(), "valid spec #{i}: {:?}", errors(&issues));
    }
}

#[test]
fn deprecated_fields_warn() {
    let spec = tp(json!({
        "loadBalancer": {"simple": "LEAST_CONN", "warmupDurationSecs": "10s"},
        "outlierDetection": {"consecutiveErrors": 5}
    }));
    let issues = validate(Kind::DestinationRule, doc(Kind::DestinationRule, spec));
    assert!(errors(&issues).is_empty(), "{:?}", errors(&issues));
    let warnings: Vec<String> = issues.iter().map(ToString::to_string).collect();
    for want in ["LEAST_CONN is deprecated", "warmupDurationSecs is deprecated", "consecutive errors is deprecated"] {
        assert!(warnings.iter().any(|w| w.contains(want)), "{want}: {warnings:?}");
    }
}

#[test]
fn unknown_fields_and_enum_values_are_rejected() {
    for (kind, spec) in [
        (Kind::DestinationRule, lb(json!({"simpel": "RANDOM"}))),
        (Kind::DestinationRule, lb(json!({"simple": "FASTEST"}))),
        (Kind::DestinationRule, tp(json!({"tls": {"mode": "STRICT"}}))),
        (Kind::ServiceEntry, json!({"hosts": ["a.com"], "resolution": "DNS_RR"})),
        (Kind::WorkloadEntry, json!({"address": "1.1.1.1", "port": {"http": 80}})),
        (Kind::WorkloadGroup, json!({"template": {}, "probe": {"httpGet": {"port": 80, "headers": []}}})),
    ] {
        assert!(Resource::decode(kind, doc(kind, spec.clone())).is_err(), "{spec}");
    }
}
