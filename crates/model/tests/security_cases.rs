//! PeerAuthentication, AuthorizationPolicy and RequestAuthentication validation against Istio's
//! rules (`ValidatePeerAuthentication`, `ValidateAuthorizationPolicy`,
//! `ValidateRequestAuthentication`, `pkg/config/security`) and the CRDs' schema and CEL rules:
//! a table of invalid documents, one rule each, with the path and the message; a table of
//! warnings; structural errors found while decoding; and a document with several problems (all
//! reported). Istio's own corpus documents are checked in place by `crates/config/tests/istio_corpus.rs`.

use serde_json::{Value, json};
use strait_model::{Issue, Kind, Resource, Severity};

const AP: Kind = Kind::AuthorizationPolicy;
const PA: Kind = Kind::PeerAuthentication;
const RA: Kind = Kind::RequestAuthentication;

fn document(kind: Kind, spec: Value) -> Value {
    let kind_name = match kind {
        Kind::AuthorizationPolicy => "AuthorizationPolicy",
        Kind::PeerAuthentication => "PeerAuthentication",
        _ => "RequestAuthentication",
    };
    json!({
        "apiVersion": "security.istio.io/v1",
        "kind": kind_name,
        "metadata": {"name": "policy", "namespace": "foo"},
        "spec": spec,
    })
}

fn decode(kind: Kind, doc: Value) -> Resource {
    Resource::decode(kind, doc).unwrap_or_else(|e| panic!("does not decode: {e}"))
}

fn issues(kind: Kind, spec: Value) -> Vec<Issue> {
    decode(kind, document(kind, spec)).validate()
}

fn render(issues: &[Issue]) -> String {
    issues.iter().map(|i| format!("  {}: {i}\n", i.severity)).collect()
}

fn has(issues: &[Issue], severity: Severity, path: &str, message: &str) -> bool {
    issues.iter().any(|i| i.severity == severity && i.path.to_string() == path && i.to_string().contains(message))
}

/// An AuthorizationPolicy spec with the single rule `rule`.
fn rule(rule: Value) -> Value {
    json!({"rules": [rule]})
}

/// A rule with one `from.source`.
fn source(source: Value) -> Value {
    rule(json!({"from": [{"source": source}]}))
}

/// A rule with one `to.operation`.
fn operation(operation: Value) -> Value {
    rule(json!({"to": [{"operation": operation}]}))
}

/// A rule with one `when` condition.
fn when(condition: Value) -> Value {
    rule(json!({"when": [condition]}))
}

/// A RequestAuthentication spec with the single JWT rule `jwt`.
fn jwt(jwt: Value) -> Value {
    json!({"jwtRules": [jwt]})
}

/// A JWT rule for issuer `example` with `extra` fields merged in.
fn jwt_with(extra: Value) -> Value {
    let mut rule = json!({"issuer": "example"});
    if let (Some(r), Some(e)) = (rule.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    jwt(rule)
}

/// A workload-level PeerAuthentication with `portLevelMtls`.
fn ports(port_level: Value) -> Value {
    json!({"selector": {"matchLabels": {"app": "a"}}, "portLevelMtls": port_level})
}

/// One invalid document per row: name, kind, spec, expected path, expected message substring.
#[rustfmt::skip]
fn invalid_cases() -> Vec<(&'static str, Kind, Value, &'static str, &'static str)> {
    let src = "spec.rules[0].from[0].source";
    let op = "spec.rules[0].to[0].operation";
    vec![
        // AuthorizationPolicy sources (CRD CEL rule, CheckEmptyValues, ValidateIPs, CheckServiceAccount, CheckTrustDomainValues).
        ("sa with namespaces", AP, source(json!({"serviceAccounts": ["bar/sa"], "namespaces": ["bar"]})), src, "Cannot set serviceAccounts with namespaces or principals"),
        ("sa with notPrincipals", AP, source(json!({"notServiceAccounts": ["sa"], "notPrincipals": ["p"]})), src, "Cannot set serviceAccounts with namespaces or principals"),
        ("empty source", AP, source(json!({})), src, "`from.source` must not be empty"),
        ("from without source", AP, rule(json!({"from": [{}]})), src, "`from.source` must not be nil"),
        ("bad CIDR", AP, source(json!({"ipBlocks": ["1.2.3.4/33"]})), "spec.rules[0].from[0].source.ipBlocks[0]", "bad CIDR range (1.2.3.4/33)"),
        ("bad remote IP", AP, source(json!({"notRemoteIpBlocks": ["abc"]})), "spec.rules[0].from[0].source.notRemoteIpBlocks[0]", "bad IP address (abc)"),
        ("empty principal", AP, source(json!({"principals": ["a", ""]})), "spec.rules[0].from[0].source.principals[1]", "empty value not allowed, found in Principals"),
        ("sa with two slashes", AP, source(json!({"serviceAccounts": ["a/b/c"]})), "spec.rules[0].from[0].source.serviceAccounts[0]", "expected format 'serviceAccount' or 'namespace/serviceAccount'"),
        ("sa wildcard", AP, source(json!({"serviceAccounts": ["ns/*"]})), "spec.rules[0].from[0].source.serviceAccounts[0]", "wildcard not allowed, found in ServiceAccounts"),
        ("sa empty namespace", AP, source(json!({"notServiceAccounts": ["/sa"]})), "spec.rules[0].from[0].source.notServiceAccounts[0]", "found empty namespace"),
        ("too many sa", AP, source(json!({"serviceAccounts": (0..17).map(|i| format!("sa{i}")).collect::<Vec<_>>()})), "spec.rules[0].from[0].source.serviceAccounts", "may not have more than 16 values"),
        ("trust domain mid wildcard", AP, source(json!({"trustDomains": ["a*b"]})), "spec.rules[0].from[0].source.trustDomains[0]", "wildcard is only allowed at the start or end, found in TrustDomains"),
        ("trust domain slash", AP, source(json!({"notTrustDomains": ["td/x"]})), "spec.rules[0].from[0].source.notTrustDomains[0]", "trust domain must not contain '/'"),
        // Operations (ValidatePorts, CheckValidPathTemplate).
        ("to without operation", AP, rule(json!({"to": [{}]})), op, "`to.operation` must not be nil"),
        ("empty operation", AP, operation(json!({})), op, "`to.operation` must not be empty"),
        ("port too big", AP, operation(json!({"ports": ["70000"]})), "spec.rules[0].to[0].operation.ports[0]", "bad port (70000)"),
        ("named port", AP, operation(json!({"notPorts": ["http"]})), "spec.rules[0].to[0].operation.notPorts[0]", "bad port (http)"),
        ("empty method", AP, operation(json!({"methods": [""]})), "spec.rules[0].to[0].operation.methods[0]", "empty value not allowed, found in Methods"),
        ("{**} not last", AP, operation(json!({"paths": ["/{**}/foo/{*}"]})), "spec.rules[0].to[0].operation.paths[0]", "{**} is not the last operator"),
        ("brace in literal", AP, operation(json!({"notPaths": ["/foo/{*}.txt"]})), "spec.rules[0].to[0].operation.notPaths[0]", "Contains '{' or '}' beyond a supported path template"),
        ("bad literal in template", AP, operation(json!({"paths": ["/*/baz/{*}"]})), "spec.rules[0].to[0].operation.paths[0]", "Contains segment * with invalid string literal"),
        // Conditions (ValidateAttribute).
        ("missing key", AP, when(json!({"values": ["a"]})), "spec.rules[0].when[0].key", "Required value"),
        ("unknown key", AP, when(json!({"key": "source.user", "values": ["a"]})), "spec.rules[0].when[0].key", "unknown attribute: source.user"),
        ("no values", AP, when(json!({"key": "source.ip"})), "spec.rules[0].when[0]", "at least one of `values` or `notValues` must be set for key source.ip"),
        ("bad source.ip", AP, when(json!({"key": "source.ip", "values": ["1.2.3.4", "x"]})), "spec.rules[0].when[0].values[1]", "invalid `value` for `key` source.ip: bad IP address (x)"),
        ("bad destination.port", AP, when(json!({"key": "destination.port", "notValues": ["99999"]})), "spec.rules[0].when[0].notValues[0]", "invalid `notValue` for `key` destination.port: bad port (99999)"),
        ("bad header key", AP, when(json!({"key": "request.headers[]", "values": ["a"]})), "spec.rules[0].when[0].key", "bad key (request.headers[]): should have format a[b]"),
        ("bad experimental key", AP, when(json!({"key": "experimental.envoy.filters.a", "values": ["a"]})), "spec.rules[0].when[0].key", "should have format a[b]"),
        ("destination.labels", AP, when(json!({"key": "destination.labels[app]", "values": ["a"]})), "spec.rules[0].when[0].key", "is replaced by the workload selector"),
        ("trust domain condition", AP, when(json!({"key": "source.trustDomain", "values": ["a*b"]})), "spec.rules[0].when[0].values[0]", "wildcard is only allowed at the start or end"),
        ("empty condition value", AP, when(json!({"key": "request.auth.claims[iss]", "values": [""]})), "spec.rules[0].when[0].values[0]", "empty value not allowed"),
        // Action and provider.
        ("custom without rules", AP, json!({"action": "CUSTOM", "provider": {"name": "ext"}}), "spec.rules", "CUSTOM action without `rules` is meaningless"),
        ("custom without provider", AP, json!({"action": "CUSTOM", "rules": [{}]}), "spec.provider", "`provider.name` must not be empty"),
        ("custom empty provider name", AP, json!({"action": "CUSTOM", "provider": {}, "rules": [{}]}), "spec.provider.name", "`provider.name` must not be empty"),
        ("custom with principals", AP, json!({"action": "CUSTOM", "provider": {"name": "ext"}, "rules": [{"from": [{"source": {"principals": ["a"]}}]}]}), "spec.rules[0].from[0].source.principals", "From.Principals is currently not supported with CUSTOM action"),
        ("custom with claims", AP, json!({"action": "CUSTOM", "provider": {"name": "ext"}, "rules": [{"when": [{"key": "request.auth.claims[iss]", "values": ["a"]}]}]}), "spec.rules[0].when[0].key", "request.auth.claims[iss] is currently not supported with CUSTOM action"),
        ("provider with ALLOW", AP, json!({"provider": {"name": "ext"}, "rules": [{}]}), "spec.provider", "`provider` must not be with non CUSTOM action, found ALLOW"),
        ("deny without rules", AP, json!({"action": "DENY"}), "spec.rules", "DENY action without `rules` is meaningless"),
        // Scope (CRD CEL rules, validatePolicyTargetReference, selector labels).
        ("selector and targetRefs", AP, json!({"selector": {"matchLabels": {"a": "b"}}, "targetRefs": [{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw"}]}), "spec", "only one of targetRefs or selector can be set"),
        ("unsupported target kind", AP, json!({"targetRefs": [{"kind": "Deployment", "group": "apps", "name": "d"}]}), "spec.targetRefs[0].kind", "targetRef must be to one of"),
        ("wildcard label", AP, json!({"selector": {"matchLabels": {"app": "a*"}}}), "spec.selector.matchLabels[app]", "wildcard not allowed in label value match"),
        ("target without name", RA, json!({"targetRef": {"kind": "Service", "group": ""}}), "spec.targetRef.name", "Required value"),
        ("cross-namespace target", RA, json!({"targetRef": {"kind": "Service", "name": "s", "namespace": "bar"}}), "spec.targetRef.namespace", "cross namespace referencing is not currently supported"),
        // PeerAuthentication (ValidatePeerAuthentication, CRD schema and CEL rules).
        ("non-numeric port key", PA, ports(json!({"http": {"mode": "STRICT"}})), "spec.portLevelMtls[http]", "type conversion error from"),
        ("port zero", PA, ports(json!({"0": {"mode": "STRICT"}})), "spec.portLevelMtls[0]", "port must be between 1-65535"),
        ("port too big", PA, ports(json!({"65536": {}})), "spec.portLevelMtls[65536]", "port must be between 1-65535"),
        ("port level without selector", PA, json!({"portLevelMtls": {"80": {"mode": "STRICT"}}}), "spec.portLevelMtls", "portLevelMtls requires selector"),
        ("port level with empty selector", PA, json!({"selector": {}, "portLevelMtls": {"80": {}}}), "spec.portLevelMtls", "portLevelMtls requires selector"),
        ("empty port level", PA, ports(json!({})), "spec.portLevelMtls", "spec.portLevelMtls in body should have at least 1 properties"),
        // RequestAuthentication (validateJwtRule, CRD schema and CEL rules).
        ("null jwt rule", RA, json!({"jwtRules": [null]}), "spec.jwtRules[0]", "spec.jwtRules[0] in body must be of type object"),
        ("no issuer nor jwksUri", RA, jwt(json!({"audiences": ["a"]})), "spec.jwtRules[0]", "issuer or jwksUri must be non-empty string"),
        ("empty issuer", RA, jwt(json!({"issuer": "", "jwksUri": "https://a/k"})), "spec.jwtRules[0].issuer", "issuer in body should be at least 1 chars long"),
        ("empty audience", RA, jwt_with(json!({"audiences": [""]})), "spec.jwtRules[0].audiences[0]", "audiences[0] in body should be at least 1 chars long"),
        ("jwksUri scheme", RA, jwt_with(json!({"jwksUri": "ftp://example.com/keys"})), "spec.jwtRules[0].jwksUri", "url must have scheme http:// or https://"),
        ("jwksUri without scheme", RA, jwt_with(json!({"jwks_uri": "example.com/keys"})), "spec.jwtRules[0].jwks_uri", "url must have scheme http:// or https://"),
        ("jwksUri bad port", RA, jwt_with(json!({"jwksUri": "https://example.com:https/keys"})), "spec.jwtRules[0].jwksUri", "invalid port"),
        ("jwksUri too long", RA, jwt_with(json!({"jwksUri": format!("https://a/{}", "k".repeat(2048))})), "spec.jwtRules[0].jwksUri", "Too long: may not be more than 2048 bytes"),
        ("jwks and jwksUri", RA, jwt_with(json!({"jwksUri": "https://a/k", "jwks": "{\"keys\":[]}"})), "spec.jwtRules[0]", "only one of jwks or jwksUri can be set"),
        ("jwks not JSON", RA, jwt_with(json!({"jwks": "not json"})), "spec.jwtRules[0].jwks", "jwks parse error"),
        ("jwks key without kty", RA, jwt_with(json!({"jwks": "{\"keys\":[{\"n\":\"x\"}]}"})), "spec.jwtRules[0].jwks", "jwks parse error: key at index 0"),
        ("header without name", RA, jwt_with(json!({"fromHeaders": [{"prefix": "baz"}]})), "spec.jwtRules[0].fromHeaders[0].name", "Required value"),
        ("header empty name", RA, jwt_with(json!({"fromHeaders": [{"name": ""}]})), "spec.jwtRules[0].fromHeaders[0].name", "spec.jwtRules[0].fromHeaders[0].name in body should be at least 1 chars long"),
        ("empty param", RA, jwt_with(json!({"fromParams": [""]})), "spec.jwtRules[0].fromParams[0]", "fromParams[0] in body should be at least 1 chars long"),
        ("empty cookie", RA, jwt_with(json!({"fromCookies": [""]})), "spec.jwtRules[0].fromCookies[0]", "fromCookies[0] in body should be at least 1 chars long"),
        ("null claim copy", RA, jwt_with(json!({"outputClaimToHeaders": [null]})), "spec.jwtRules[0].outputClaimToHeaders[0]", "outputClaimToHeaders[0] in body must be of type object"),
        ("claim header pattern", RA, jwt_with(json!({"outputClaimToHeaders": [{"header": ":authority", "claim": "x"}]})), "spec.jwtRules[0].outputClaimToHeaders[0].header", "header in body should match '^[-_A-Za-z0-9]+$'"),
        ("claim missing", RA, jwt_with(json!({"outputClaimToHeaders": [{"header": "x-sub"}]})), "spec.jwtRules[0].outputClaimToHeaders[0].claim", "Required value"),
        ("timeout too short", RA, jwt_with(json!({"timeout": "500us"})), "spec.jwtRules[0].timeout", "must be a valid duration greater than 1ms"),
        ("empty space-delimited claim", RA, jwt_with(json!({"spaceDelimitedClaims": [""]})), "spec.jwtRules[0].spaceDelimitedClaims[0]", "spaceDelimitedClaims[0] in body should be at least 1 chars long"),
        ("too many space-delimited claims", RA, jwt_with(json!({"spaceDelimitedClaims": (0..65).map(|i| format!("c{i}")).collect::<Vec<_>>()})), "spec.jwtRules[0].spaceDelimitedClaims", "Too many: 65: must have at most 64 items"),
        ("payload header with newline", RA, jwt_with(json!({"outputPayloadToHeader": "x\ny"})), "spec.jwtRules[0].outputPayloadToHeader", "must not contain NUL, CR or LF"),
    ]
}

#[test]
fn invalid_documents_are_rejected_at_the_right_path() {
    let cases = invalid_cases();
    assert!(cases.len() >= 20);
    for (name, kind, spec, path, message) in cases {
        let got = issues(kind, spec);
        assert!(
            has(&got, Severity::Error, path, message),
            "{name}: expected error at {path} containing {message:?}, got:\n{}",
            render(&got)
        );
    }
}

/// Accepted documents that deserve a warning: name, kind, spec, path, message substring.
#[rustfmt::skip]
fn warning_cases() -> Vec<(&'static str, Kind, Value, &'static str, &'static str)> {
    vec![
        ("selector without labels", PA, json!({"selector": {}}), "spec.selector", "workload selector specified without labels"),
        ("deny on HTTP attributes only", AP, json!({"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/admin"]}}]}]}), "spec.rules[0]", "will deny all traffic to TCP ports"),
        ("audit without rules", AP, json!({"action": "AUDIT"}), "spec.rules", "AUDIT action without `rules` is meaningless"),
        ("lowercase method", AP, operation(json!({"methods": ["get"]})), "spec.rules[0].to[0].operation.methods[0]", "HTTP methods are case-sensitive"),
        ("relative path", AP, operation(json!({"paths": ["admin"]})), "spec.rules[0].to[0].operation.paths[0]", "paths must start with '/' or '*'"),
        ("port zero", AP, operation(json!({"ports": ["0"]})), "spec.rules[0].to[0].operation.ports[0]", "port 0 never matches"),
        ("spiffe prefix", AP, source(json!({"principals": ["spiffe://cluster.local/ns/a/sa/b"]})), "spec.rules[0].from[0].source.principals[0]", "without the spiffe:// prefix"),
        ("literal wildcard", AP, source(json!({"requestPrincipals": ["iss/*/sub"]})), "spec.rules[0].from[0].source.requestPrincipals[0]", "is matched literally"),
        ("bad namespace", AP, source(json!({"namespaces": ["Foo_Bar"]})), "spec.rules[0].from[0].source.namespaces[0]", "never matches"),
        ("private jwk", RA, jwt_with(json!({"jwks": "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}"})), "spec.jwtRules[0].jwks", "jwks key at index 0 contains private key material"),
        ("odd header name", RA, jwt_with(json!({"fromHeaders": [{"name": "x token"}]})), "spec.jwtRules[0].fromHeaders[0].name", "not a valid HTTP header name"),
        ("jwksUri without host", RA, jwt_with(json!({"jwksUri": "https:///keys"})), "spec.jwtRules[0].jwksUri", "has no host"),
    ]
}

#[test]
fn questionable_documents_are_accepted_with_a_warning() {
    for (name, kind, spec, path, message) in warning_cases() {
        let got = issues(kind, spec);
        let errors: Vec<&Issue> = got.iter().filter(|i| i.severity == Severity::Error).collect();
        assert!(errors.is_empty(), "{name}: unexpected errors:\n{}", render(&got));
        assert!(
            has(&got, Severity::Warning, path, message),
            "{name}: expected warning at {path} containing {message:?}, got:\n{}",
            render(&got)
        );
    }
}

#[test]
fn structural_errors_are_found_while_decoding() {
    let cases = [
        (AP, json!({"action": "PERMIT"}), "unknown variant `PERMIT`"),
        (PA, json!({"mtls": {"mode": "BLAH"}}), "unknown variant `BLAH`"),
        (RA, jwt_with(json!({"presence": "MANDATORY"})), "unknown variant `MANDATORY`"),
        (RA, jwt_with(json!({"jwksURI": "https://a/k"})), "unknown field `jwksURI`"),
        (RA, jwt_with(json!({"timeout": "apple"})), "must be a valid duration greater than 1ms"),
        (AP, source(json!({"principal": ["a"]})), "unknown field `principal`"),
    ];
    for (kind, spec, message) in cases {
        match Resource::decode(kind, document(kind, spec)) {
            Ok(_) => panic!("decoded, expected {message:?}"),
            Err(e) => assert!(e.to_string().contains(message), "{e} does not contain {message:?}"),
        }
    }
}

#[test]
fn every_problem_is_reported() {
    let spec = json!({
        "selector": {"matchLabels": {"app": "a"}},
        "targetRef": {"kind": "Service", "name": "s"},
        "action": "CUSTOM",
        "rules": [{
            "from": [{"source": {"principals": [""], "ipBlocks": ["x"]}}],
            "to": [{"operation": {"ports": ["x"]}}],
            "when": [{"key": "nope", "values": ["a"]}],
        }],
    });
    let got = issues(AP, spec);
    let errors = got.iter().filter(|i| i.severity == Severity::Error).count();
    assert!(errors >= 7, "{}", render(&got));
}
