//! MeshConfig: the analyzer corpus' mesh configs and an installed mesh config decode and
//! validate cleanly, Istio's defaults are valid, removed fields only warn, and bad values are
//! rejected at their path with Istio's wording (agent `ValidateMeshConfig`,
//! `ValidateMeshConfigProxyConfig`).

use serde_json::{Value, json};
use strait_model::mesh::MeshConfig;
use strait_model::{Issue, Resource, Severity};

fn mesh_issues(doc: Value) -> Vec<Issue> {
    let mesh: MeshConfig = serde_json::from_value(doc).unwrap_or_else(|e| panic!("decode failed: {e}"));
    Resource::MeshConfig(mesh).validate()
}

fn render(issues: &[Issue]) -> String {
    issues.iter().map(|i| format!("{:?} {i}", i.severity)).collect::<Vec<_>>().join("\n")
}

/// Asserts an error at exactly `path` whose message contains `message`.
fn expect_error(name: &str, issues: &[Issue], path: &str, message: &str) {
    let found = issues
        .iter()
        .any(|i| i.severity == Severity::Error && i.path.to_string() == path && i.message.contains(message));
    assert!(found, "case {name:?}: expected error at {path} containing {message:?}; got:\n{}", render(issues));
}

#[test]
fn mesh_configs_from_the_corpus_decode() {
    // pkg/config/analysis/analyzers/testdata/common/meshconfig.yaml and its neighbours.
    assert!(mesh_issues(json!({"defaultConfig": {"image": {"imageType": "distroless"}}})).is_empty());
    assert!(mesh_issues(json!({"defaultConfig": {"proxyMetadata": {"ISTIO_META_DNS_CAPTURE": "true"}}})).is_empty());
    let lightstep = mesh_issues(
        json!({"extensionProviders": [{"name": "lightstep", "lightstep": {"service": "lightstep.monitoring.svc.cluster.local", "port": 443, "accessToken": "fake-token"}}], "enableAutoMtls": true}),
    );
    assert!(lightstep.iter().all(|i| i.severity == Severity::Warning), "{}", render(&lightstep));
    // The mesh config an `istioctl install` writes (operator golden output), with Istio's defaults.
    let installed = json!({"defaultConfig": {"discoveryAddress": "istiod.istio-system.svc:15012"}, "defaultProviders": {"metrics": ["prometheus"]}, "enablePrometheusMerge": true, "rootNamespace": "istio-system", "trustDomain": "cluster.local", "accessLogFormat": "[%START_TIME%] \"%REQ(:METHOD)%\"", "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}});
    assert!(mesh_issues(installed).is_empty());
    assert!(Resource::MeshConfig(MeshConfig::defaults()).validate().is_empty());
    // Fields Istio removed are accepted with a warning rather than failing the whole config.
    let old =
        mesh_issues(json!({"mixerCheckServer": "istio-policy:15004", "defaultConfig": {"connectTimeout": "10s"}}));
    assert!(old.iter().all(|i| i.severity == Severity::Warning) && old.len() == 2, "{}", render(&old));
}

#[test]
fn bad_mesh_values_are_rejected() {
    let cases = [
        (
            "connect timeout zero",
            json!({"connectTimeout": "0s"}),
            "connectTimeout",
            "invalid connect timeout: duration must be greater than 1ms",
        ),
        ("connect timeout too long", json!({"connectTimeout": "2h"}), "connectTimeout", "must be >1ms and <1h0m0s"),
        (
            "protocol detection precision",
            json!({"protocolDetectionTimeout": "1500us"}),
            "protocolDetectionTimeout",
            "only durations to ms precision are supported",
        ),
        (
            "listen port",
            json!({"proxyListenPort": 70000}),
            "proxyListenPort",
            "invalid proxy listen port: port number 70000 must be in the range 1..65535",
        ),
        (
            "trust domain",
            json!({"trustDomain": "bad_domain"}),
            "trustDomain",
            "trust domain name \"bad_domain\" invalid",
        ),
        (
            "trust domain alias",
            json!({"trustDomainAliases": ["ok.local", "bad domain"]}),
            "trustDomainAliases[1]",
            "trust domain name \"bad domain\" invalid",
        ),
        (
            "service settings host",
            json!({"serviceSettings": [{"settings": {"clusterLocal": true}, "hosts": ["foo.*.com"]}]}),
            "serviceSettings[0].hosts[0]",
            "domain name \"foo.*.com\" invalid",
        ),
        (
            "mesh mTLS curves",
            json!({"meshMTLS": {"ecdhCurves": ["P-256"]}}),
            "meshMTLS.ecdhCurves",
            "mesh TLS does not support ECDH curves configuration",
        ),
        (
            "drain precision",
            json!({"defaultConfig": {"drainDuration": "1500ms"}}),
            "defaultConfig.drainDuration",
            "drain time only supports durations to seconds precision",
        ),
        (
            "discovery address",
            json!({"defaultConfig": {"discoveryAddress": "istiod"}}),
            "defaultConfig.discoveryAddress",
            "invalid discovery address: unable to split \"istiod\"",
        ),
        (
            "admin port",
            json!({"defaultConfig": {"proxyAdminPort": 0}}),
            "defaultConfig.proxyAdminPort",
            "invalid proxy admin port: port number 0 must be in the range 1..65535",
        ),
        (
            "auth policy",
            json!({"defaultConfig": {"controlPlaneAuthPolicy": "INHERIT"}}),
            "defaultConfig.controlPlaneAuthPolicy",
            "unrecognized control plane auth policy \"INHERIT\"",
        ),
        (
            "concurrency",
            json!({"defaultConfig": {"concurrency": -1}}),
            "defaultConfig.concurrency",
            "concurrency must be greater than or equal to 0",
        ),
        (
            "poll delay",
            json!({"defaultConfig": {"privateKeyProvider": {"cryptomb": {}}}}),
            "defaultConfig.privateKeyProvider.cryptomb.pollDelay",
            "pollDelay is required",
        ),
        (
            "window size",
            json!({"defaultConfig": {"connectionSettings": {"http2InitialStreamWindowSize": 100}}}),
            "defaultConfig.connectionSettings.http2InitialStreamWindowSize",
            "http2_initial_stream_window_size must be at least 65535",
        ),
        (
            "zipkin address",
            json!({"defaultConfig": {"tracing": {"zipkin": {"address": "zipkin"}}}}),
            "defaultConfig.tracing.zipkin.address",
            "invalid zipkin config",
        ),
        (
            "inbound retry backoff",
            json!({"defaultInboundHttpRetryPolicy": {"attempts": 0, "backoff": "1s"}}),
            "defaultInboundHttpRetryPolicy.backoff",
            "backoff configured when attempts are set to 0 (disabled)",
        ),
        (
            "locality distribute and failover",
            json!({"localityLbSetting": {"distribute": [{"from": "a/*", "to": {"b/*": 100}}], "failover": [{"from": "a", "to": "b"}]}}),
            "localityLbSetting",
            "can not simultaneously specify 'distribute' and 'failover'",
        ),
        (
            "default pool empty",
            json!({"defaultTrafficPolicy": {"connectionPool": {}}}),
            "defaultTrafficPolicy.connectionPool",
            "connection pool must have at least one field",
        ),
        (
            "default outlier percent",
            json!({"defaultTrafficPolicy": {"outlierDetection": {"maxEjectionPercent": 150}}}),
            "defaultTrafficPolicy.outlierDetection.maxEjectionPercent",
            "percentage 150 is not in range 0..100",
        ),
        (
            "two provider kinds",
            json!({"extensionProviders": [{"name": "p", "zipkin": {"service": "z.ns.svc", "port": 9411}, "datadog": {"service": "d.ns.svc", "port": 8126}}]}),
            "extensionProviders[0]",
            "only one provider kind may be set",
        ),
    ];
    for (name, doc, path, message) in cases {
        expect_error(name, &mesh_issues(doc), path, message);
    }
    // Enum names, durations and unknown fields fail at decoding.
    for bad in [
        json!({"outboundTrafficPolicy": {"mode": "SOMETIMES"}}),
        json!({"connectTimeout": "ten seconds"}),
        json!({"bogusField": 1}),
    ] {
        assert!(serde_json::from_value::<MeshConfig>(bad.clone()).is_err(), "{bad}");
    }
    // Provider problems are only advice, as in Istio.
    let issues = mesh_issues(json!({"extensionProviders": [{"name": "z", "zipkin": {"service": "", "port": 0}}]}));
    assert!(!issues.is_empty() && issues.iter().all(|i| i.severity == Severity::Warning), "{}", render(&issues));
}
