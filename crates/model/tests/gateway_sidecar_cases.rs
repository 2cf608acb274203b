//! Gateway and Sidecar: invalid documents with the path and message Istio's rules give (derived
//! from `validation_test.go` TestValidateGateway/Server/TlsOptions/Sidecar), warnings that do
//! not reject, and valid documents from Istio's corpus that must pass untouched. MeshConfig has
//! its own file, `mesh_config_cases.rs`.

use serde_json::{Value, json};
use strait_model::{Issue, Kind, Resource, Severity};

fn object(kind: &str, spec: Value) -> Value {
    json!({"apiVersion": "networking.istio.io/v1", "kind": kind, "metadata": {"name": "x", "namespace": "bar"}, "spec": spec})
}

fn issues_of(kind: Kind, doc: Value) -> Vec<Issue> {
    Resource::decode(kind, doc).unwrap_or_else(|e| panic!("decode failed: {e}")).validate()
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

fn http(number: u32, name: &str) -> Value {
    json!({"number": number, "name": name, "protocol": "HTTP"})
}

fn server(port: Value, hosts: &[&str]) -> Value {
    json!({"port": port, "hosts": hosts})
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

#[rustfmt::skip] // one row per case reads as a table
fn gateway_cases() -> Vec<(&'static str, Value, &'static str, &'static str)> {
    let ok = || server(http(80, "http"), &["foo.bar.com"]);
    let https =
        |tls: Value| with(server(json!({"number": 443, "name": "https", "protocol": "HTTPS"}), &["a.com"]), "tls", tls);
    vec![
        ("no servers", json!({"selector": {"istio": "ingressgateway"}}), "spec.servers", "gateway must have at least one server"),
        ("no hosts", json!({"servers": [{"port": http(80, "http")}]}), "spec.servers[0].hosts", "server config must contain at least one host"),
        ("no port", json!({"servers": [{"hosts": ["a.com"]}]}), "spec.servers[0].port", "port is required"),
        ("port out of range", json!({"servers": [server(http(66000, "http"), &["a.com"])]}), "spec.servers[0].port.number", "port number 66000 must be in the range 1..65535"),
        ("duplicate port names", json!({"servers": [server(http(80, "foo"), &["foo.bar.com"]), server(http(8080, "foo"), &["scooby.doo.com"])]}), "spec.servers[1].port.name", "port names in servers must be unique: duplicate name foo"),
        ("wildcard inside host", json!({"servers": [server(http(7, "http"), &["foo.*.bar.com"])]}), "spec.servers[0].hosts[0]", "domain name \"foo.*.bar.com\" invalid"),
        ("partial wildcard", json!({"servers": [with(server(json!({"number": 443, "name": "tls", "protocol": "TLS"}), &["*bar.com"]), "tls", json!({"mode": "ISTIO_MUTUAL"}))]}), "spec.servers[0].hosts[0]", "partial wildcard \"*bar.com\" not allowed"),
        ("tilde namespace", json!({"servers": [server(http(7, "http"), &["~/foo.bar.com"])]}), "spec.servers[0].hosts[0]", "invalid namespace value \"~\" in gateway"),
        ("empty namespace", json!({"servers": [server(http(7, "http"), &["/foo.bar.com"])]}), "spec.servers[0].hosts[0]", "config namespace and dnsName in host entry cannot be empty"),
        ("short name", json!({"servers": [server(http(7, "http"), &["foo"])]}), "spec.servers[0].hosts[0]", "short names (non FQDN) are not allowed"),
        ("unknown protocol", json!({"servers": [server(json!({"number": 1, "name": "k", "protocol": "kafka"}), &["a.com"])]}), "spec.servers[0].port.protocol", "invalid protocol \"kafka\""),
        ("missing port name", json!({"servers": [server(json!({"number": 80, "protocol": "HTTP"}), &["a.com"])]}), "spec.servers[0].port.name", "port name must be set"),
        ("target port", json!({"servers": [server(json!({"number": 80, "name": "h", "protocol": "HTTP", "targetPort": 8080}), &["a.com"])]}), "spec.servers[0].port.targetPort", "targetPort has no impact on Gateways"),
        ("https without tls", json!({"servers": [server(json!({"number": 443, "name": "https", "protocol": "HTTPS"}), &["a.com"])]}), "spec.servers[0].tls", "server must have TLS settings for HTTPS/TLS protocols"),
        ("tls on http", json!({"servers": [with(ok(), "tls", json!({"mode": "SIMPLE", "credentialName": "c"}))]}), "spec.servers[0].tls", "server cannot have TLS settings for plain text HTTP ports"),
        ("tls on tcp", json!({"servers": [with(server(json!({"number": 31400, "name": "tcp", "protocol": "TCP"}), &["a.com"]), "tls", json!({"mode": "PASSTHROUGH"}))]}), "spec.servers[0].tls", "server cannot have TLS settings for non HTTPS/TLS ports"),
        ("unix bind with port", json!({"servers": [with(server(http(7, "http"), &["a.com"]), "bind", json!("unix://@foobar"))]}), "spec.servers[0].port.number", "port number must be 0 for unix domain socket"),
        ("relative unix bind", json!({"servers": [with(server(http(0, "http"), &["a.com"]), "bind", json!("unix://relative/sock"))]}), "spec.servers[0].bind", "relative/sock is not an absolute path to a file"),
        ("bind not an ip", json!({"servers": [with(ok(), "bind", json!("foo.bar"))]}), "spec.servers[0].bind", "foo.bar is not a valid IP"),
        ("simple without certificate", json!({"servers": [https(json!({"mode": "SIMPLE", "privateKey": "k"}))]}), "spec.servers[0].tls.serverCertificate", "SIMPLE TLS requires a server certificate"),
        ("mutual without ca", json!({"servers": [https(json!({"mode": "MUTUAL", "serverCertificate": "c", "privateKey": "k"}))]}), "spec.servers[0].tls.caCertificates", "MUTUAL TLS requires a client CA bundle"),
        ("optional mutual without key", json!({"servers": [https(json!({"mode": "OPTIONAL_MUTUAL", "serverCertificate": "c", "caCertificates": "ca"}))]}), "spec.servers[0].tls.privateKey", "MUTUAL TLS requires a private key"),
        ("two certificate sources", json!({"servers": [https(json!({"mode": "SIMPLE", "serverCertificate": "c", "privateKey": "k", "credentialName": "sds"}))]}), "spec.servers[0].tls", "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified"),
        ("tls certificate without key", json!({"servers": [https(json!({"mode": "SIMPLE", "tlsCertificates": [{"serverCertificate": "c"}]}))]}), "spec.servers[0].tls.tlsCertificates[0].privateKey", "SIMPLE TLS requires a private key"),
        ("three credential names", json!({"servers": [https(json!({"mode": "SIMPLE", "credentialNames": ["a", "b", "c"]}))]}), "spec.servers[0].tls.credentialNames", "Too many: 3: must have at most 2 items"),
        ("istio mutual with certificate", json!({"servers": [https(json!({"mode": "ISTIO_MUTUAL", "serverCertificate": "c"}))]}), "spec.servers[0].tls.serverCertificate", "ISTIO_MUTUAL TLS cannot have associated server certificate"),
        ("istio mutual with credential", json!({"servers": [https(json!({"mode": "ISTIO_MUTUAL", "credentialName": "c"}))]}), "spec.servers[0].tls.credentialName", "ISTIO_MUTUAL TLS cannot have associated credentialName"),
        ("crl with simple", json!({"servers": [https(json!({"mode": "SIMPLE", "serverCertificate": "c", "privateKey": "k", "caCrl": "crl"}))]}), "spec.servers[0].tls.caCrl", "CRL is not supported with SIMPLE TLS"),
        ("max below min version", json!({"servers": [https(json!({"mode": "SIMPLE", "credentialName": "c", "minProtocolVersion": "TLSV1_3", "maxProtocolVersion": "TLSV1_2"}))]}), "spec.servers[0].tls.maxProtocolVersion", "maxProtocolVersion TLSV1_2 is lower than minProtocolVersion TLSV1_3"),
    ]
}

#[rustfmt::skip] // one row per case reads as a table
fn sidecar_cases() -> Vec<(&'static str, Value, &'static str, &'static str)> {
    let egress = |hosts: &[&str]| json!({"hosts": hosts});
    let port = |number: u32, protocol: &str, name: &str| json!({"number": number, "protocol": protocol, "name": name});
    let uds = |bind: &str| json!({"port": port(0, "http", "uds"), "hosts": ["ns1/bar.com"], "bind": bind});
    let ingress = |extra: Value| {
        let mut l = json!({"port": port(90, "http", "foo"), "defaultEndpoint": "127.0.0.1:9999"});
        for (k, v) in extra.as_object().into_iter().flatten() {
            l[k] = v.clone();
        }
        json!({"ingress": [l]})
    };
    let https_in = |tls: Value| json!({"ingress": [{"port": port(443, "HTTPS", "https"), "tls": tls}]});
    let proxy = json!({"host": "foo.bar", "subset": "shiny", "port": {"number": 5000}});
    vec![
        ("empty", json!({}), "spec", "sidecar: empty configuration provided"),
        ("bare host", json!({"egress": [egress(&["*"])]}), "spec.egress[0].hosts[0]", "host must be of form namespace/dnsName"),
        ("slash host", json!({"egress": [egress(&["/"])]}), "spec.egress[0].hosts[0]", "config namespace and dnsName in host entry cannot be empty"),
        ("no hosts", json!({"egress": [{"port": port(80, "http", "h")}]}), "spec.egress[0].hosts", "sidecar: egress listener must contain at least one host"),
        ("catch-all not last", json!({"egress": [egress(&["*/foo.com"]), {"port": port(8080, "http", "h8080"), "hosts": ["ns1/bar.com"]}]}), "spec.egress[0]", "the egress listener with empty port should be the last listener in the list"),
        ("two catch-alls", json!({"egress": [egress(&["*/foo.com"]), egress(&["ns1/bar.com"])]}), "spec.egress[1]", "sidecar: egress can have only one listener with empty port"),
        ("bad exclusion namespace", json!({"egress": [egress(&["*/*", "~Invalid_NS/*"])]}), "spec.egress[0].hosts[1]", "invalid namespace value \"~Invalid_NS\" in sidecar"),
        ("partial wildcard", json!({"egress": [egress(&["test/*a.com"])]}), "spec.egress[0].hosts[0]", "partial wildcard \"*a.com\" not allowed"),
        ("unknown protocol", json!({"egress": [{"port": port(1000, "http1", ""), "hosts": ["ns1/bar.com"]}]}), "spec.egress[0].port.protocol", "unsupported protocol: http1"),
        ("port out of range", json!({"egress": [{"port": port(1_000_000, "http", "h"), "hosts": ["ns1/bar.com"]}]}), "spec.egress[0].port.number", "port number 1000000 must be in the range 1..65535"),
        ("bad port name", json!({"egress": [{"port": port(80, "http", "Not_A_Label"), "hosts": ["ns1/bar.com"]}]}), "spec.egress[0].port.name", "invalid port name: Not_A_Label"),
        ("target port", json!({"egress": [{"port": {"number": 80, "targetPort": 8080}, "hosts": ["ns1/bar.com"]}]}), "spec.egress[0].port.targetPort", "targetPort has no impact on Sidecars"),
        ("port 0 without socket", json!({"egress": [uds("foobar:///@foo/bar/com")]}), "spec.egress[0].bind", "sidecar: ports with 0 value must have a unix domain socket bind address"),
        ("socket with iptables", json!({"egress": [with(uds("unix:///@foo/bar/com"), "captureMode", json!("IPTABLES"))]}), "spec.egress[0].captureMode", "captureMode must be DEFAULT/NONE for unix domain socket listeners"),
        ("duplicate sockets", json!({"egress": [uds("unix:///@foo/bar/com"), uds("unix:///@foo/bar/com")]}), "spec.egress[1].bind", "sidecar: unix domain socket values for listeners must be unique"),
        ("duplicate egress ports", json!({"egress": [{"port": port(90, "http", "foo"), "hosts": ["ns1/bar.com"]}, {"port": port(90, "tcp", "tcp"), "hosts": ["ns2/bar.com"]}]}), "spec.egress[1].port.number", "sidecar: ports on IP bound listeners must be unique"),
        ("egress bind not an ip", json!({"egress": [{"port": port(80, "http", "h"), "bind": "foo.bar", "hosts": ["ns1/bar.com"]}]}), "spec.egress[0].bind", "foo.bar is not a valid IP"),
        ("ingress without port", json!({"ingress": [{"defaultEndpoint": "127.0.0.1:110"}], "egress": [egress(&["*/*"])]}), "spec.ingress[0].port", "sidecar: port is required for ingress listeners"),
        ("duplicate ingress ports", json!({"ingress": [{"port": port(90, "http", "foo")}, {"port": port(90, "tcp", "bar")}]}), "spec.ingress[1].port.number", "sidecar: ports on IP bound listeners must be unique"),
        ("ingress unix bind", json!({"ingress": [{"port": port(0, "http", "uds"), "bind": "unix:///@foo/bar/com"}]}), "spec.ingress[0].bind", "unix:///@foo/bar/com is not a valid IP"),
        ("ingress port 0", json!({"ingress": [{"port": port(0, "http", "uds")}]}), "spec.ingress[0].port.number", "port number 0 must be in the range 1..65535"),
        ("endpoint not loopback", ingress(json!({"defaultEndpoint": "1.1.1.1:90"})), "spec.ingress[0].defaultEndpoint", "sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset"),
        ("endpoint not ipv6 loopback", ingress(json!({"defaultEndpoint": "[1:1:1:1:1:1:1:1]:90"})), "spec.ingress[0].defaultEndpoint", "sidecar: defaultEndpoint must be of form"),
        ("endpoint port not a number", ingress(json!({"defaultEndpoint": "[::1]:hi"})), "spec.ingress[0].defaultEndpoint", "sidecar: defaultEndpoint port (hi) is not a number"),
        ("endpoint without port", ingress(json!({"defaultEndpoint": "127.0.0.1"})), "spec.ingress[0].defaultEndpoint", "address 127.0.0.1: missing port in address"),
        ("endpoint bad socket", ingress(json!({"defaultEndpoint": "unix:///"})), "spec.ingress[0].defaultEndpoint", "/ is not an absolute path to a file"),
        ("ingress istio mutual", ingress(json!({"tls": {"mode": "ISTIO_MUTUAL"}})), "spec.ingress[0].tls.mode", "configuration is invalid: cannot set mode to ISTIO_MUTUAL in sidecar ingress tls"),
        ("ingress auto passthrough", ingress(json!({"tls": {"mode": "AUTO_PASSTHROUGH"}})), "spec.ingress[0].tls.mode", "cannot set mode to AUTO_PASSTHROUGH in sidecar ingress tls"),
        ("ingress tls on http", ingress(json!({"tls": {"mode": "SIMPLE", "serverCertificate": "c", "privateKey": "k"}})), "spec.ingress[0].tls", "server cannot have TLS settings for non HTTPS/TLS ports"),
        ("ingress credential", https_in(json!({"mode": "SIMPLE", "credentialName": "c"})), "spec.ingress[0].tls.credentialName", "sidecar: credentialName is not currently supported"),
        ("ingress https redirect", https_in(json!({"mode": "SIMPLE", "httpsRedirect": true, "serverCertificate": "c", "privateKey": "k"})), "spec.ingress[0].tls.httpsRedirect", "sidecar: httpsRedirect is not supported"),
        ("ingress subject alt names", https_in(
                json!({"mode": "MUTUAL", "subjectAltNames": ["a"], "serverCertificate": "c", "privateKey": "k", "caCertificates": "ca"}),
            ), "spec.ingress[0].tls.subjectAltNames", "sidecar: subjectAltNames is not supported in ingress tls"),
        ("ingress tls certificates", https_in(json!({"mode": "SIMPLE", "tlsCertificates": [{"serverCertificate": "c", "privateKey": "k"}]})), "spec.ingress[0].tls.tlsCertificates", "sidecar: tls_certificates is not currently supported"),
        ("ingress simple without key", https_in(json!({"mode": "SIMPLE", "serverCertificate": "c"})), "spec.ingress[0].tls.privateKey", "SIMPLE TLS requires a private key"),
        ("egress proxy with registry only", json!({"outboundTrafficPolicy": {"egressProxy": proxy}}), "spec.outboundTrafficPolicy.egressProxy", "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode"),
        ("egress proxy bad host", json!({"outboundTrafficPolicy": {"mode": "ALLOW_ANY", "egressProxy": {"host": "foobar*123", "port": {"number": 5000}}}}), "spec.outboundTrafficPolicy.egressProxy.host", "domain name \"foobar*123\" invalid"),
        ("egress proxy without port", json!({"outboundTrafficPolicy": {"mode": "ALLOW_ANY", "egressProxy": {"host": "foo.bar"}}}), "spec.outboundTrafficPolicy.egressProxy.port", "sidecar: egress_proxy port must be non-nil"),
        ("dynamic dns mode", json!({"outboundTrafficPolicy": {"mode": "ALLOW_ANY_DYNAMIC_DNS"}}), "spec.outboundTrafficPolicy.mode", "sidecar: ALLOW_ANY_DYNAMIC_DNS mode is only supported in MeshConfig, not in Sidecar resource"),
        ("empty inbound pool", json!({"inboundConnectionPool": {}}), "spec.inboundConnectionPool", "connection pool must have at least one field"),
        ("negative ingress pool", ingress(json!({"connectionPool": {"tcp": {"maxConnections": -1}}})), "spec.ingress[0].connectionPool.tcp.maxConnections", "max connections must be non-negative"),
        ("wildcard selector", json!({"workloadSelector": {"labels": {"app": "a*"}}, "egress": [egress(&["*/*"])]}), "spec.workloadSelector.labels[app]", "wildcard is not supported in selector: \"app=a*\""),
    ]
}

#[test]
fn invalid_gateways() {
    let cases = gateway_cases();
    assert!(cases.len() >= 12);
    for (name, spec, path, message) in cases {
        expect_error(name, &issues_of(Kind::Gateway, object("Gateway", spec)), path, message);
    }
}

#[test]
fn invalid_sidecars() {
    let cases = sidecar_cases();
    assert!(cases.len() >= 12);
    for (name, spec, path, message) in cases {
        expect_error(name, &issues_of(Kind::Sidecar, object("Sidecar", spec)), path, message);
    }
}

#[test]
fn warnings_do_not_reject() {
    let spec = json!({"servers": [{"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["bar.com"],
        "tls": {"httpsRedirect": true, "mode": "SIMPLE", "credentialName": "c", "cipherSuites": ["not-a-cipher-suite"]}}]});
    let issues = issues_of(Kind::Gateway, object("Gateway", spec));
    assert!(issues.iter().all(|i| i.severity == Severity::Warning), "{}", render(&issues));
    let text = render(&issues);
    assert!(
        text.contains("spec.servers[0].tls.httpsRedirect: tls.httpsRedirect should only be used with http servers"),
        "{text}"
    );
    assert!(
        text.contains("spec.servers[0].tls.cipherSuites[0]: ignoring invalid cipher suites: [not-a-cipher-suite]"),
        "{text}"
    );
    let spec = json!({"egress": [{"hosts": ["test/*", "test/a.com"]}], "workloadSelector": {}});
    let issues = issues_of(Kind::Sidecar, object("Sidecar", spec));
    assert!(issues.iter().all(|i| i.severity == Severity::Warning), "{}", render(&issues));
    assert!(render(&issues).contains("spec.egress[0].hosts[1]: duplicated egress host: test/a.com"));
    assert!(render(&issues).contains("spec.workloadSelector: sidecar: workload selector specified without labels"));
    let spec = json!({"ingress": [{"port": {"number": 9000, "protocol": "TCP", "name": "tcp"}, "connectionPool": {"http": {"http2MaxRequests": 10}}}]});
    let issues = issues_of(Kind::Sidecar, object("Sidecar", spec));
    assert!(issues.iter().all(|i| i.severity == Severity::Warning) && issues.len() == 1, "{}", render(&issues));
    assert!(render(&issues).contains(
        "spec.ingress[0].connectionPool: sidecar: HTTP connection pool settings are configured for port 9000"
    ));
}

#[test]
fn unknown_fields_are_rejected() {
    let doc = object(
        "Gateway",
        json!({"servers": [{"port": {"number": 80, "name": "h", "protocol": "HTTP"}, "hostz": ["a.com"]}]}),
    );
    let err = Resource::decode(Kind::Gateway, doc).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("unknown field `hostz`"), "{err}");
    let doc = object("Sidecar", json!({"egress": [{"hosts": ["./*"], "localhost": {}}]}));
    assert!(Resource::decode(Kind::Sidecar, doc).is_err());
    let doc = object("Sidecar", json!({"ingress": [{"port": {"number": 80}, "captureMode": "SOMETIMES"}]}));
    assert!(Resource::decode(Kind::Sidecar, doc).is_err());
}

#[test]
fn gateway_names_must_be_dns_labels() {
    let mut doc = object(
        "Gateway",
        json!({"servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}),
    );
    doc["metadata"]["name"] = json!("my.gateway");
    let issues = Resource::decode(Kind::Gateway, doc).expect("decodes").validate();
    expect_error("dotted gateway name", &issues, "metadata.name", "invalid gateway name: \"my.gateway\"");
}
