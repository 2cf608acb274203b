//! The hand-written invalid cases of `destination_service_entry_cases.rs`: one table per kind
//! family, each row naming the spec, the path of the expected error and a substring of its
//! message (Istio's wording).

use serde_json::{Value, json};
use strait_model::Kind;

use Kind::{DestinationRule as Dr, ServiceEntry as Se, WorkloadEntry as We, WorkloadGroup as Wg};

/// (name, kind, spec, expected path, expected message substring).
pub type Case = (&'static str, Kind, Value, &'static str, &'static str);

pub fn tp(policy: Value) -> Value {
    json!({"host": "reviews", "trafficPolicy": policy})
}

pub fn lb(settings: Value) -> Value {
    tp(json!({"loadBalancer": settings}))
}

pub fn destination_rule_cases() -> Vec<Case> {
    vec![
        ("missing host", Dr, json!({}), "spec.host", "Required value"),
        ("bad host", Dr, json!({"host": "foo..com"}), "spec.host", "invalid (label"),
        ("IP host", Dr, json!({"host": "1.2.3.4"}), "spec.host", "cannot be all-numeric"),
        (
            "duplicate subsets",
            Dr,
            json!({"host": "r", "subsets": [{"name": "v1"}, {"name": "v1"}]}),
            "spec.subsets[1].name",
            "duplicate subset names: v1",
        ),
        (
            "bad subset name",
            Dr,
            json!({"host": "r", "subsets": [{"name": "V_1"}]}),
            "spec.subsets[0].name",
            "subset name is invalid: V_1",
        ),
        (
            "bad subset label",
            Dr,
            json!({"host": "r", "subsets": [{"name": "v1", "labels": {"bad key": "x"}}]}),
            "spec.subsets[0].labels[bad key]",
            "invalid tag key",
        ),
        ("empty policy", Dr, tp(json!({})), "spec.trafficPolicy", "traffic policy must have at least one field"),
        (
            "tunnel and proxy protocol",
            Dr,
            tp(json!({"tunnel": {"targetHost": "a.com", "targetPort": 8080}, "proxyProtocol": {"version": "V2"}})),
            "spec.trafficPolicy",
            "tunnel and proxyProtocol must not be set together",
        ),
        (
            "simple and consistent hash",
            Dr,
            lb(json!({"simple": "RANDOM", "consistentHash": {"useSourceIp": true}})),
            "spec.trafficPolicy.loadBalancer",
            "only one of simple or consistentHash can be set",
        ),
        (
            "two hash keys",
            Dr,
            lb(json!({"consistentHash": {"useSourceIp": true, "httpHeaderName": "x-user"}})),
            "spec.trafficPolicy.loadBalancer.consistentHash",
            "only one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName can be set",
        ),
        (
            "cookie without name",
            Dr,
            lb(json!({"consistentHash": {"httpCookie": {"ttl": "10s"}}})),
            "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name",
            "name required for HttpCookie",
        ),
        (
            "duplicate cookie attribute",
            Dr,
            lb(json!({"consistentHash": {"httpCookie": {"name": "c", "attributes": [{"name": "a"}, {"name": "a"}]}}})),
            "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[1].name",
            "duplicate cookie attribute name: a",
        ),
        (
            "maglev not prime",
            Dr,
            lb(json!({"consistentHash": {"useSourceIp": true, "maglev": {"tableSize": 1000}}})),
            "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize",
            "tableSize must be a prime number for maglev",
        ),
        (
            "ring too large",
            Dr,
            lb(json!({"consistentHash": {"useSourceIp": true, "ringHash": {"minimumRingSize": 9_000_000}}})),
            "spec.trafficPolicy.loadBalancer.consistentHash.ringHash.minimumRingSize",
            "minimumRingSize must be at most 8388608",
        ),
        (
            "deprecated ring size with maglev",
            Dr,
            lb(
                json!({"consistentHash": {"useSourceIp": true, "minimumRingSize": 1024, "maglev": {"tableSize": 65537}}}),
            ),
            "spec.trafficPolicy.loadBalancer.consistentHash",
            "only one of MinimumRingSize or Maglev/Ringhash can be specified",
        ),
        (
            "both warmups",
            Dr,
            lb(json!({"warmupDurationSecs": "10s", "warmup": {"duration": "10s"}})),
            "spec.trafficPolicy.loadBalancer",
            "only one of warmupDurationSecs or warmup can be set",
        ),
        (
            "locality and zone aware",
            Dr,
            lb(json!({"localityLbSetting": {"enabled": true}, "zoneAwareLbSetting": {"enabled": true}})),
            "spec.trafficPolicy.loadBalancer",
            "only one of localityLbSetting and zoneAwareLbSetting can be set",
        ),
        (
            "distribute and failover",
            Dr,
            lb(json!({"localityLbSetting": {
                "distribute": [{"from": "a/*", "to": {"a/*": 100}}],
                "failover": [{"from": "a", "to": "b"}]
            }})),
            "spec.trafficPolicy.loadBalancer.localityLbSetting",
            "can not simultaneously specify 'distribute' and 'failover'",
        ),
        (
            "distribute weights",
            Dr,
            lb(json!({"localityLbSetting": {"distribute": [{"from": "a/*", "to": {"a/*": 60, "b/*": 30}}]}})),
            "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to",
            "total locality weight 90 != 100",
        ),
        (
            "failover to itself",
            Dr,
            tp(
                json!({"loadBalancer": {"localityLbSetting": {"failover": [{"from": "a", "to": "a"}]}}, "outlierDetection": {}}),
            ),
            "spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]",
            "locality lb failover settings must specify different regions",
        ),
        (
            "empty connection pool",
            Dr,
            tp(json!({"connectionPool": {}})),
            "spec.trafficPolicy.connectionPool",
            "connection pool must have at least one field",
        ),
        (
            "negative max connections",
            Dr,
            tp(json!({"connectionPool": {"tcp": {"maxConnections": -1}}})),
            "spec.trafficPolicy.connectionPool.tcp.maxConnections",
            "max connections must be non-negative",
        ),
        (
            "sub-millisecond timeout",
            Dr,
            tp(json!({"connectionPool": {"tcp": {"connectTimeout": "500us"}}})),
            "spec.trafficPolicy.connectionPool.tcp.connectTimeout",
            "duration must be greater than 1ms",
        ),
        (
            "upgrade with client protocol",
            Dr,
            tp(json!({"connectionPool": {"http": {"h2UpgradePolicy": "UPGRADE", "useClientProtocol": true}}})),
            "spec.trafficPolicy.connectionPool.http.useClientProtocol",
            "use client protocol must not be true when H2UpgradePolicy is UPGRADE",
        ),
        (
            "keepalive without timeout",
            Dr,
            tp(json!({"connectionPool": {"http": {"http2KeepAlive": {"interval": "10s"}}}})),
            "spec.trafficPolicy.connectionPool.http.http2KeepAlive.timeout",
            "http2 keepalive timeout is required",
        ),
        (
            "ejection percent",
            Dr,
            tp(json!({"outlierDetection": {"maxEjectionPercent": 150}})),
            "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
            "percentage 150 is not in range 0..100",
        ),
        (
            "local origin without split",
            Dr,
            tp(json!({"outlierDetection": {"consecutiveLocalOriginFailures": 3}})),
            "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures",
            "split external local origin errors is set to false",
        ),
        (
            "error code out of range",
            Dr,
            tp(json!({"outlierDetection": {"outlierDetectionHttpErrorCodes": [503, 700]}})),
            "spec.trafficPolicy.outlierDetection.outlierDetectionHttpErrorCodes[1]",
            "Invalid value: 700",
        ),
        (
            "mutual without certificate",
            Dr,
            tp(json!({"tls": {"mode": "MUTUAL", "privateKey": "/k.pem"}})),
            "spec.trafficPolicy.tls.clientCertificate",
            "client certificate required for mutual tls",
        ),
        (
            "disable with certificates",
            Dr,
            tp(json!({"tls": {"mode": "DISABLE", "caCertificates": "/ca.pem"}})),
            "spec.trafficPolicy.tls",
            "caCertificates cannot be set when mode is DISABLE",
        ),
        (
            "istio mutual with certificates",
            Dr,
            tp(json!({"tls": {"mode": "ISTIO_MUTUAL", "clientCertificate": "/c.pem", "privateKey": "/k.pem"}})),
            "spec.trafficPolicy.tls",
            "clientCertificate, privateKey cannot be set when mode is ISTIO_MUTUAL",
        ),
        (
            "credential name with files",
            Dr,
            tp(json!({"tls": {"mode": "SIMPLE", "credentialName": "s", "caCertificates": "/ca.pem"}})),
            "spec.trafficPolicy.tls",
            "cannot specify client certificates or CA certificate or CA CRL If credentialName is set",
        ),
        (
            "skip verify with SANs",
            Dr,
            tp(json!({"tls": {"mode": "SIMPLE", "insecureSkipVerify": true, "subjectAltNames": ["a"]}})),
            "spec.trafficPolicy.tls",
            "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true",
        ),
        (
            "configmap in another namespace",
            Dr,
            tp(json!({"tls": {"mode": "SIMPLE", "credentialName": "configmap://other/ca"}})),
            "spec.trafficPolicy.tls.credentialName",
            "namespace must match the configuration namespace \"default\"",
        ),
        (
            "port settings without port",
            Dr,
            tp(json!({"portLevelSettings": [{"tls": {"mode": "SIMPLE"}}]})),
            "spec.trafficPolicy.portLevelSettings[0].port",
            "portTrafficPolicy must have valid port",
        ),
        (
            "port settings without policy",
            Dr,
            tp(json!({"portLevelSettings": [{"port": {"number": 80}}]})),
            "spec.trafficPolicy.portLevelSettings[0]",
            "port traffic policy must have at least one field",
        ),
        (
            "retry budget percent",
            Dr,
            tp(json!({"retryBudget": {"percent": 120.0}})),
            "spec.trafficPolicy.retryBudget.percent",
            "Invalid value: 120",
        ),
        (
            "tunnel target",
            Dr,
            tp(json!({"tunnel": {"targetHost": "a b", "targetPort": 80}})),
            "spec.trafficPolicy.tunnel.targetHost",
            "tunnel target host must be valid FQDN or IP address",
        ),
        (
            "selector exported away",
            Dr,
            json!({"host": "r", "workloadSelector": {"matchLabels": {"app": "a"}}, "exportTo": ["*"]}),
            "spec.exportTo",
            "destination rule with workload selector cannot have exportTo beyond current namespace",
        ),
    ]
}

pub fn service_entry_cases() -> Vec<Case> {
    let http = json!([{"number": 80, "name": "http", "protocol": "HTTP"}]);
    vec![
        (
            "DNS wildcard without endpoints",
            Se,
            json!({"hosts": ["*.example.com"], "resolution": "DNS", "ports": http}),
            "spec.hosts[0]",
            "hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode DNS",
        ),
        (
            "STATIC with DNS endpoint",
            Se,
            json!({"hosts": ["a.com"], "resolution": "STATIC", "ports": http, "endpoints": [{"address": "b.com"}]}),
            "spec.endpoints[0].address",
            "endpoint address \"b.com\" is not a valid IP address",
        ),
        (
            "endpoint port not declared",
            Se,
            json!({"hosts": ["a.com"], "resolution": "STATIC", "ports": http,
                   "endpoints": [{"address": "1.1.1.1", "ports": {"grpc": 8080}}]}),
            "spec.endpoints[0].ports[grpc]",
            "endpoint port 8080 is not defined by the service entry",
        ),
        (
            "unknown protocol",
            Se,
            json!({"hosts": ["a.com"], "ports": [{"number": 80, "name": "p", "protocol": "FOO"}]}),
            "spec.ports[0].protocol",
            "unsupported protocol: FOO",
        ),
        (
            "bad port name",
            Se,
            json!({"hosts": ["a.com"], "ports": [{"number": 80, "name": "http_1"}]}),
            "spec.ports[0].name",
            "invalid port name: http_1",
        ),
        (
            "bad address",
            Se,
            json!({"hosts": ["a.com"], "addresses": ["1.2.3"]}),
            "spec.addresses[0]",
            "is not a valid IP address",
        ),
        (
            "several hosts over TCP",
            Se,
            json!({"hosts": ["a.com", "b.com"], "resolution": "DNS", "ports": [{"number": 5432, "name": "pg", "protocol": "TCP"}]}),
            "spec.ports[0]",
            "multiple hosts provided with non-HTTP, non-TLS ports",
        ),
        (
            "dynamic DNS exact host",
            Se,
            json!({"hosts": ["a.com"], "resolution": "DYNAMIC_DNS", "ports": http}),
            "spec.hosts[0]",
            "host must be wildcarded for resolution mode DYNAMIC_DNS",
        ),
        (
            "dynamic DNS over TCP",
            Se,
            json!({"hosts": ["*.a.com"], "resolution": "DYNAMIC_DNS", "ports": [{"number": 5432, "name": "pg", "protocol": "TCP"}]}),
            "spec.ports[0].protocol",
            "only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type DYNAMIC_DNS",
        ),
        (
            "unix endpoint, two service ports",
            Se,
            json!({"hosts": ["a.local"], "resolution": "STATIC",
                   "ports": [{"number": 80, "name": "a"}, {"number": 81, "name": "b"}],
                   "endpoints": [{"address": "unix:///run/a.sock"}]}),
            "spec.endpoints[0].address",
            "exactly 1 service port required for unix endpoints",
        ),
        (
            "unix endpoint with DNS",
            Se,
            json!({"hosts": ["a.local"], "resolution": "DNS", "ports": http, "endpoints": [{"address": "unix:///run/a.sock"}]}),
            "spec.endpoints[0].address",
            "is not a valid FQDN or an IP address",
        ),
        (
            "export to none and more",
            Se,
            json!({"hosts": ["a.com"], "exportTo": ["~", "."]}),
            "spec.exportTo",
            "cannot export to none (~)",
        ),
        (
            "missing port number",
            Se,
            json!({"hosts": ["a.com"], "ports": [{"name": "a"}]}),
            "spec.ports[0].number",
            "port must be between 1-65535",
        ),
    ]
}

pub fn workload_cases() -> Vec<Case> {
    vec![
        (
            "empty UDS path",
            We,
            json!({"address": "unix://"}),
            "spec.address",
            "UDS must be an absolute path or abstract socket",
        ),
        ("bad FQDN", We, json!({"address": "a..b"}), "spec.address", "is not a valid FQDN or an IP address"),
        (
            "bad label value",
            We,
            json!({"address": "1.1.1.1", "labels": {"app": "-x"}}),
            "spec.labels[app]",
            "invalid tag value: \"-x\"",
        ),
        ("missing template", Wg, json!({}), "spec.template", "Required value"),
        (
            "template UDS with ports",
            Wg,
            json!({"template": {"address": "unix:///a", "ports": {"http": 80}}}),
            "spec.template.ports",
            "UDS may not include ports",
        ),
        (
            "grpc probe",
            Wg,
            json!({"template": {}, "probe": {"grpc": {"port": 8080}}}),
            "spec.probe.grpc",
            "unknown health check method grpc",
        ),
        (
            "exec without command",
            Wg,
            json!({"template": {}, "probe": {"exec": {}}}),
            "spec.probe.exec.command",
            "Required value",
        ),
        (
            "bad scheme",
            Wg,
            json!({"template": {}, "probe": {"httpGet": {"port": 80, "scheme": "FTP"}}}),
            "spec.probe.httpGet.scheme",
            "scheme must be one of [HTTP, HTTPS]",
        ),
        (
            "two methods",
            Wg,
            json!({"template": {}, "probe": {"tcpSocket": {"port": 80}, "exec": {"command": ["true"]}}}),
            "spec.probe",
            "only one of httpGet, tcpSocket, exec or grpc can be set",
        ),
        (
            "bad metadata label",
            Wg,
            json!({"template": {}, "metadata": {"labels": {"a/b/c": "x"}}}),
            "spec.metadata.labels[a/b/c]",
            "invalid tag key",
        ),
        (
            "negative delay",
            Wg,
            json!({"template": {}, "probe": {"initialDelaySeconds": -5, "tcpSocket": {"port": 80}}}),
            "spec.probe.initialDelaySeconds",
            "Invalid value: -5: spec.probe.initialDelaySeconds in body should be greater than or equal to 0",
        ),
    ]
}
