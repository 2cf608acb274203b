//! VirtualService validation against Istio's rules (`pkg/config/validation/virtualservice.go`
//! and `validation.go`): a table of invalid documents, one rule each, with the path and the
//! message Istio's wording leads to; warnings for deprecated and ineffective settings; a
//! document with several problems (all reported); and valid documents from Istio's samples
//! and test configs (in `virtual_service_cases/valid.rs`), which must produce no errors.

#[path = "virtual_service_cases/valid.rs"]
mod valid;

use serde_json::{Value, json};
use strait_model::{Issue, Kind, Resource, Severity};

fn document(namespace: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "vs", "namespace": namespace},
        "spec": spec,
    })
}

fn issues(namespace: &str, spec: Value) -> Vec<Issue> {
    match Resource::decode(Kind::VirtualService, document(namespace, spec)) {
        Ok(r) => r.validate(),
        Err(e) => panic!("does not decode: {e}"),
    }
}

fn render(issues: &[Issue]) -> String {
    issues.iter().map(|i| format!("  {}: {i}\n", i.severity)).collect()
}

fn errors(issues: &[Issue]) -> Vec<&Issue> {
    issues.iter().filter(|i| i.severity == Severity::Error).collect()
}

/// A VirtualService for `foo.bar` with the single HTTP route `route`.
fn http(route: Value) -> Value {
    json!({"hosts": ["foo.bar"], "http": [route]})
}

/// An HTTP route to `foo.baz` with `extra` fields merged in.
fn to_baz(extra: Value) -> Value {
    let mut route = json!({"route": [{"destination": {"host": "foo.baz"}}]});
    if let (Some(r), Some(e)) = (route.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    http(route)
}

/// One invalid document per row: name, spec, expected path, expected message substring.
#[rustfmt::skip]
fn invalid_cases() -> Vec<(&'static str, Value, &'static str, &'static str)> {
    let tls = |sni: Value, route: Value| json!({"hosts": ["foo.bar"], "tls": [{"match": [{"sniHosts": sni}], "route": route}]});
    let tcp = |m: Value| json!({"hosts": ["foo.bar"], "tcp": [{"match": [m], "route": [{"destination": {"host": "foo.baz"}}]}]});
    let dest = || json!([{"destination": {"host": "foo.baz"}}]);
    vec![
        // Hosts and gateways (ValidateVirtualService, validateGatewayNames).
        ("bad host", json!({"hosts": ["foo.ba!r"], "http": [{"route": dest()}]}),
            "spec.hosts[0]", "invalid (label \"ba!r\" invalid)"),
        ("numeric tld", json!({"hosts": ["foo.123"], "http": [{"route": dest()}]}),
            "spec.hosts[0]", "cannot be all-numeric"),
        ("* on mesh", json!({"hosts": ["*"], "http": [{"route": dest()}]}),
            "spec.hosts[0]", "wildcard host * is not allowed for virtual services bound to the mesh gateway"),
        ("duplicate hosts", json!({"hosts": ["*.foo.bar", "*.bar"], "http": [{"route": dest()}]}),
            "spec.hosts[1]", "duplicate hosts in virtual service: *.foo.bar & *.bar"),
        ("no routes", json!({"hosts": ["foo.bar"]}), "spec", "http, tcp or tls must be provided in virtual service"),
        ("bad gateway", json!({"hosts": ["foo.bar"], "gateways": ["b@dgateway"], "http": [{"route": dest()}]}),
            "spec.gateways[0]", "domain name \"b@dgateway\" invalid"),
        ("gateway ns/*", json!({"hosts": ["foo.bar"], "gateways": ["ns1/*"], "http": [{"route": dest()}]}),
            "spec.gateways[0]", "invalid value for gateway name: \"*\""),
        ("gateway */name", json!({"hosts": ["foo.bar"], "gateways": ["*/gateway"], "http": [{"route": dest()}]}),
            "spec.gateways[0]", "invalid value for namespace: \"*\""),
        ("match gateway", http(json!({"match": [{"gateways": ["ns/"]}], "route": dest()})),
            "spec.http[0].match[0].gateways[0]", "config namespace and gateway name cannot be empty"),
        ("exportTo", json!({"hosts": ["foo.bar"], "exportTo": ["*", "."], "http": [{"route": dest()}]}),
            "spec.exportTo", "cannot have both public (*) and non-public exportTo values"),
        // Delegates and the exclusivity of actions (validateHTTPRouteConflict).
        ("delegate with gateways", json!({"gateways": ["gw"], "http": [{"route": dest()}]}),
            "spec.gateways", "delegate virtual service must have no gateways specified"),
        ("delegate with tcp", json!({"tcp": [{"route": dest()}]}),
            "spec.tcp", "delegate virtual service must have no tcp route specified"),
        ("delegate in delegate", json!({"http": [{"delegate": {"name": "x"}}]}),
            "spec.http[0].delegate", "delegate HTTP route cannot contain delegate"),
        ("root with route", http(json!({"delegate": {"name": "x"}, "route": dest()})),
            "spec.http[0].route", "root HTTP route must not specify route"),
        ("no action", http(json!({"name": "r"})),
            "spec.http[0]", "HTTP route, redirect or direct_response is required"),
        ("route and redirect", to_baz(json!({"redirect": {"uri": "/lerp"}})),
            "spec.http[0].route", "HTTP route cannot contain both route and redirect"),
        ("redirect and fault", http(json!({"redirect": {"uri": "/x"}, "fault": {"abort": {"httpStatus": 500}}})),
            "spec.http[0].fault", "HTTP route cannot contain both fault and redirect"),
        ("direct response and route", to_baz(json!({"directResponse": {"status": 200}})),
            "spec.http[0].route", "HTTP route cannot contain both route and direct_response"),
        ("mirror and mirrors", to_baz(json!({"mirror": {"host": "a"}, "mirrors": [{"destination": {"host": "b"}}]})),
            "spec.http[0].mirrors", "HTTP route cannot contain both mirror and mirrors"),
        // Destinations and weights (validateHTTPRouteDestinations, validateDestination).
        ("negative weight", http(json!({"route": [{"destination": {"host": "a"}, "weight": 5}, {"destination": {"host": "b"}, "weight": -1}]}),),
            "spec.http[0].route[1].weight", "weight -1 < 0"),
        ("all weights zero", http(json!({"route": [{"destination": {"host": "a"}, "weight": 0}, {"destination": {"host": "b"}}]})),
            "spec.http[0].route", "total destination weight = 0"),
        ("no destination", http(json!({"route": [{"weight": 100}]})),
            "spec.http[0].route[0].destination", "Required value"),
        ("no destination host", http(json!({"route": [{"destination": {"subset": "v1"}}]})),
            "spec.http[0].route[0].destination.host", "Required value"),
        ("destination *", http(json!({"route": [{"destination": {"host": "*"}}]})),
            "spec.http[0].route[0].destination.host", "invalid destination host *"),
        ("destination ns/name", http(json!({"route": [{"destination": {"host": "default/baz"}}]})),
            "spec.http[0].route[0].destination.host", "invalid (label"),
        ("bad subset", http(json!({"route": [{"destination": {"host": "a", "subset": "v_1"}}]})),
            "spec.http[0].route[0].destination.subset", "subset name is invalid: v_1"),
        ("port 0", http(json!({"route": [{"destination": {"host": "a", "port": {}}}]})),
            "spec.http[0].route[0].destination.port.number", "port must be between 1-65535"),
        // Match requests (validateHTTPRouteMatchRequest, validateStringMatch).
        ("empty header prefix", to_baz(json!({"match": [{"headers": {"x-a": {"prefix": ""}}}]})),
            "spec.http[0].match[0].headers[x-a].prefix", "\"headers\": prefix string match should not be empty"),
        ("empty method regex", to_baz(json!({"match": [{"method": {"regex": ""}}]})),
            "spec.http[0].match[0].method.regex", "\"method\": regex string match should not be empty"),
        ("bad withoutHeaders regex", to_baz(json!({"match": [{"withoutHeaders": {"x-a": {"regex": "?"}}}]})),
            "spec.http[0].match[0].withoutHeaders[x-a].regex", "Istio uses RE2 style regex-based match"),
        ("regex too long", to_baz(json!({"match": [{"uri": {"regex": "a".repeat(1025)}}]})),
            "spec.http[0].match[0].uri.regex", "regex is too large, max length allowed is 1024"),
        ("two string matches", to_baz(json!({"match": [{"uri": {"exact": "/a", "prefix": "/a"}}]})),
            "spec.http[0].match[0].uri", "only one of exact, prefix or regex may be set"),
        ("bad header name", to_baz(json!({"match": [{"headers": {"illegal\"char": {"exact": "a"}}}]})),
            "spec.http[0].match[0].headers[illegal\"char]", "is not a valid header name"),
        ("match port", to_baz(json!({"match": [{"port": 70000}]})),
            "spec.http[0].match[0].port", "port must be between 1-65535"),
        ("source label wildcard", to_baz(json!({"match": [{"sourceLabels": {"app": "*"}}]})),
            "spec.http[0].match[0].sourceLabels[app]", "invalid tag value: \"*\""),
        ("source namespace", to_baz(json!({"match": [{"sourceNamespace": "bad_ns"}]})),
            "spec.http[0].match[0].sourceNamespace", "sourceNamespace match bad_ns is invalid"),
        ("jwt claim on mesh", to_baz(json!({"match": [{"headers": {"@request.auth.claims.group": {"exact": "a"}}}]})),
            "spec.http[0].match[0].headers[@request.auth.claims.group]", "JWT claim based routing (key: @request.auth.claims.group) is only supported for gateway"),
        // Header manipulation (ValidateHTTPHeader*OperationName, ValidateHTTPHeaderValue).
        ("set :path", to_baz(json!({"headers": {"request": {"set": {":path": "/x"}}}})),
            "spec.http[0].headers.request.set[:path]", "header cannot have \":\" prefix"),
        ("remove host", to_baz(json!({"headers": {"response": {"remove": ["Host"]}}})),
            "spec.http[0].headers.response.remove[0]", "cannot set Host header"),
        ("unescaped %", http(json!({"route": [{"destination": {"host": "a"}, "headers": {"response": {"add": {"x-a": "abcd%oijasodifj"}}}}]}),),
            "spec.http[0].route[0].headers.response.add[x-a]", "header value configuration: invalid header configuration"),
        ("authority twice", to_baz(json!({"rewrite": {"authority": "bar"}, "headers": {"request": {"set": {":authority": "foo"}}}})),
            "spec.http[0].headers.request.set[:authority]", "authority header cannot be set multiple times: have \"bar\", attempting to set \"foo\""),
        // Timeouts and retries (ValidateDuration, ValidateHTTPRetry).
        ("timeout < 1ms", to_baz(json!({"timeout": "500us"})),
            "spec.http[0].timeout", "duration must be greater than 1ms"),
        ("timeout precision", to_baz(json!({"timeout": "1500us"})),
            "spec.http[0].timeout", "only durations to ms precision are supported"),
        ("negative attempts", to_baz(json!({"retries": {"attempts": -1}})),
            "spec.http[0].retries.attempts", "attempts cannot be negative"),
        ("policy with 0 attempts", to_baz(json!({"retries": {"attempts": 0, "perTryTimeout": "2s"}})),
            "spec.http[0].retries", "http retry policy configured when attempts are set to 0 (disabled)"),
        ("bad retryOn", to_baz(json!({"retries": {"attempts": 3, "retryOn": "5xx,invalid policy"}})),
            "spec.http[0].retries.retryOn", "\"invalid policy\" is not a valid retryOn policy"),
        ("retryOn 600", to_baz(json!({"retries": {"attempts": 3, "retryOn": "600,connect-failure"}})),
            "spec.http[0].retries.retryOn", "\"600\" is not a valid retryOn policy"),
        ("perTryTimeout 0", to_baz(json!({"retries": {"attempts": 3, "perTryTimeout": "0s"}})),
            "spec.http[0].retries.perTryTimeout", "duration must be greater than 1ms"),
        // Fault injection (validateHTTPFaultInjection*).
        ("empty fault", to_baz(json!({"fault": {}})),
            "spec.http[0].fault", "HTTP fault injection must have an abort and/or a delay"),
        ("abort status", to_baz(json!({"fault": {"abort": {"httpStatus": 9000}}})),
            "spec.http[0].fault.abort.httpStatus", "HTTP status 9000 is not in range 200-599"),
        ("abort grpc", to_baz(json!({"fault": {"abort": {"grpcStatus": "BAD_STATUS"}}})),
            "spec.http[0].fault.abort.grpcStatus", "gRPC status \"BAD_STATUS\" is not supported"),
        ("abort http2", to_baz(json!({"fault": {"abort": {"http2Error": "x"}}})),
            "spec.http[0].fault.abort.http2Error", "HTTP/2 abort fault injection not supported yet"),
        ("abort percentage", to_baz(json!({"fault": {"abort": {"httpStatus": 500, "percentage": {"value": -10.0}}}})),
            "spec.http[0].fault.abort.percentage.value", "percentage -10 is neither 0.0, nor in range [0.0001, 100.0]"),
        ("delay percentage", to_baz(json!({"fault": {"delay": {"fixedDelay": "3s", "percentage": {"value": 101}}}})),
            "spec.http[0].fault.delay.percentage.value", "is neither 0.0, nor in range"),
        ("exponential delay", to_baz(json!({"fault": {"delay": {"exponentialDelay": "3s"}}})),
            "spec.http[0].fault.delay.exponentialDelay", "exponentialDelay not supported yet"),
        // Redirects, direct responses, rewrites (validateHTTPRedirect, …DirectResponse, …Rewrite).
        ("empty redirect", http(json!({"redirect": {}})),
            "spec.http[0].redirect", "redirect must specify URI, authority, scheme, or port"),
        ("redirect code", http(json!({"redirect": {"uri": "t", "redirectCode": 400}})),
            "spec.http[0].redirect.redirectCode", "400 is not a valid redirect code, must be 3xx"),
        ("uri and prefixRewrite", http(json!({"redirect": {"uri": "/old", "prefixRewrite": "/new"}})),
            "spec.http[0].redirect", "redirect may only specify one of uri or prefix_rewrite"),
        ("prefixRewrite exact", http(json!({"match": [{"uri": {"exact": "/foo"}}], "redirect": {"prefixRewrite": "/bar"}})),
            "spec.http[0].redirect.prefixRewrite", "redirect prefix_rewrite requires all URI matches to use prefix match type"),
        ("redirect scheme", http(json!({"redirect": {"scheme": "ftp"}})),
            "spec.http[0].redirect.scheme", "invalid redirect scheme, must be \"http\" or \"https\""),
        ("redirect port", http(json!({"redirect": {"port": 70000}})),
            "spec.http[0].redirect.port", "port must be between 1-65535"),
        ("direct status", http(json!({"directResponse": {"status": 199}})),
            "spec.http[0].directResponse.status", "HTTP status 199 is not in range 200-599"),
        ("direct no status", http(json!({"directResponse": {"body": {"string": "hi"}}})),
            "spec.http[0].directResponse.status", "Required value"),
        ("direct body 2MB", http(json!({"directResponse": {"status": 200, "body": {"string": "a".repeat(2 << 20)}}})),
            "spec.http[0].directResponse.body", "must be less than 1MB"),
        ("rewrite uri and regex", to_baz(json!({"rewrite": {"uri": "/a", "uriRegexRewrite": {"match": "^/b", "rewrite": "/c"}}})),
            "spec.http[0].rewrite", "rewrite may only contain one of URI or UriRegexRewrite"),
        ("empty rewrite", to_baz(json!({"rewrite": {}})),
            "spec.http[0].rewrite", "rewrite must specify at least one of URI, UriRegexRewrite, or authority"),
        ("regex rewrite half", to_baz(json!({"rewrite": {"uriRegexRewrite": {"match": "^/b"}}})),
            "spec.http[0].rewrite.uriRegexRewrite", "UriRegexRewrite requires both Rewrite and Match fields to be specified"),
        ("regex rewrite bad", to_baz(json!({"rewrite": {"uriRegexRewrite": {"match": "[", "rewrite": "["}}})),
            "spec.http[0].rewrite.uriRegexRewrite.match", "\"HTTPRewrite.UriRegexRewrite.Match\":"),
        // CORS (validateCORSPolicy).
        ("cors method", to_baz(json!({"corsPolicy": {"allowMethods": ["GET", "PUTT"]}})),
            "spec.http[0].corsPolicy.allowMethods[1]", "\"PUTT\" is not a supported HTTP method"),
        ("cors header", to_baz(json!({"corsPolicy": {"exposeHeaders": [""]}})),
            "spec.http[0].corsPolicy.exposeHeaders[0]", "header name cannot be empty"),
        ("cors maxAge", to_baz(json!({"corsPolicy": {"maxAge": "2500ms"}})),
            "spec.http[0].corsPolicy.maxAge", "max_age duration is accurate only to seconds precision"),
        ("cors origin", to_baz(json!({"corsPolicy": {"allowOrigins": [{"prefix": ""}]}})),
            "spec.http[0].corsPolicy.allowOrigins[0]", "'' is not a valid match type for CORS allow origins"),
        // Mirrors (validateHTTPMirrors and the mirror percentages).
        ("mirrorPercentage", to_baz(json!({"mirror": {"host": "a"}, "mirrorPercentage": {"value": 101}})),
            "spec.http[0].mirrorPercentage.value", "mirror_percentage must have a max value of 100"),
        ("mirrorPercent", to_baz(json!({"mirror": {"host": "a"}, "mirrorPercent": 101})),
            "spec.http[0].mirrorPercent", "mirror_percent must have a max value of 100 (it has 101)"),
        ("mirror host", to_baz(json!({"mirror": {"host": "*"}})),
            "spec.http[0].mirror.host", "invalid destination host *"),
        ("mirrors no destination", to_baz(json!({"mirrors": [{"percentage": {"value": 5}}]})),
            "spec.http[0].mirrors[0].destination", "Required value"),
        ("mirrors percentage", to_baz(json!({"mirrors": [{"destination": {"host": "a"}, "percentage": {"value": -1}}]})),
            "spec.http[0].mirrors[0].percentage.value", "mirror percentage must have a min value of 0"),
        // TLS and TCP routes (validateTLSRoute, validateTCPRoute).
        ("tls no match", json!({"hosts": ["foo.bar"], "tls": [{"route": dest()}]}),
            "spec.tls[0].match", "TLS route must have at least one match condition"),
        ("tls no sni", tls(json!([]), dest()),
            "spec.tls[0].match[0].sniHosts", "TLS match must have at least one SNI host"),
        ("sni not covered", tls(json!(["bar.com"]), dest()),
            "spec.tls[0].match[0].sniHosts[0]", "SNI host \"bar.com\" is not a compatible subset of any of the virtual service hosts: [foo.bar]"),
        ("sni bad wildcard", tls(json!(["foo.*.com"]), dest()), "spec.tls[0].match[0].sniHosts[0]", "invalid (label"),
        ("tls no route", tls(json!(["foo.bar"]), json!([])), "spec.tls[0].route", "TLS route is required"),
        ("tcp no route", json!({"hosts": ["foo.bar"], "tcp": [{"match": [{"port": 999}]}]}),
            "spec.tcp[0].route", "TCP route is required"),
        ("tcp subnet", tcp(json!({"destinationSubnets": ["10.0.0.0/33"]})),
            "spec.tcp[0].match[0].destinationSubnets[0]", "10.0.0.0/33 is not a valid CIDR block"),
        ("tcp ip", tcp(json!({"destinationSubnets": ["1.2.3"]})),
            "spec.tcp[0].match[0].destinationSubnets[0]", "1.2.3 is not a valid IP"),
        ("tcp source subnet", tcp(json!({"sourceSubnet": "10.1.1.1/x"})),
            "spec.tcp[0].match[0].sourceSubnet", "is not a valid CIDR block"),
        ("tcp weights zero", json!({"hosts": ["foo.bar"], "tcp": [{"route": [{"destination": {"host": "a"}}, {"destination": {"host": "b"}}]}]}),
            "spec.tcp[0].route", "total destination weight = 0"),
    ]
}

#[test]
fn invalid_documents_report_istio_errors() {
    let cases = invalid_cases();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for (name, spec, path, message) in cases {
        let found = issues("default", spec);
        let hit = errors(&found).iter().any(|i| i.path.to_string() == path && i.message.contains(message));
        if !hit {
            failures.push(format!("{name}: want error at {path} containing {message:?}; got\n{}", render(&found)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_problems_of_one_document_are_reported() {
    let spec = json!({
        "hosts": ["foo.bar"],
        "http": [{
            "route": [{"destination": {"host": "a"}, "weight": -20}, {"destination": {"host": "b"}, "weight": 120}],
            "retries": {"attempts": 3, "retryOn": "5xx,sometimes"},
        }],
        "tls": [{"match": [{"sniHosts": ["other.com"]}], "route": [{"destination": {"host": "a"}}]}],
    });
    let found = issues("default", spec);
    let errs: Vec<String> = errors(&found).iter().map(|i| i.to_string()).collect();
    assert_eq!(
        errs,
        [
            "spec.http[0].retries.retryOn: \"sometimes\" is not a valid retryOn policy",
            "spec.http[0].route[0].weight: weight -20 < 0",
            "spec.tls[0].match[0].sniHosts[0]: SNI host \"other.com\" is not a compatible subset of any of the virtual service hosts: [foo.bar]",
        ],
        "{}",
        render(&found)
    );
}

#[test]
fn deprecated_and_ineffective_settings_warn() {
    let rows = [
        (
            to_baz(json!({"mirror": {"host": "a"}, "mirrorPercent": 5})),
            "spec.http[0].mirrorPercent",
            "use \"mirrorPercentage\"",
        ),
        (
            to_baz(json!({"fault": {"delay": {"fixedDelay": "1s", "percent": 10}}})),
            "spec.http[0].fault.delay.percent",
            "percent is deprecated",
        ),
        (
            to_baz(json!({"corsPolicy": {"allowOrigin": ["https://a.com"]}})),
            "spec.http[0].corsPolicy.allowOrigin",
            "use \"allowOrigins\"",
        ),
        (
            to_baz(json!({"fault": {"abort": {"percentage": {"value": 1}}}})),
            "spec.http[0].fault.abort",
            "abort configured, but error type not set",
        ),
        (
            http(json!({"redirect": {"uri": "/a", "redirectCode": 305}})),
            "spec.http[0].redirect.redirectCode",
            "not supported by Envoy",
        ),
        (
            http(json!({"directResponse": {"status": 200, "body": {"string": "a".repeat(101 << 10)}}})),
            "spec.http[0].directResponse.body",
            "large direct_responses may impact control plane performance",
        ),
        (
            json!({"hosts": ["foo.bar"], "gateways": ["gateway.example.com"], "http": [{"route": [{"destination": {"host": "a"}}]}]}),
            "spec.gateways[0]",
            "prefer the <namespace>/<name> format: \"example/gateway\"",
        ),
        (
            json!({"hosts": ["foo.bar"], "tls": [{"match": [{"sniHosts": ["1.1.1.1"]}], "route": [{"destination": {"host": "a"}}]}]}),
            "spec.tls[0].match[0].sniHosts[0]",
            "goes against SNI spec",
        ),
        (
            json!({"hosts": ["foo.bar"], "http": [
                {"route": [{"destination": {"host": "a"}}]},
                {"name": "late", "route": [{"destination": {"host": "b"}}]},
            ]}),
            "spec.http[1]",
            "virtualService rule \"late\" not used (only the last rule can have no matches)",
        ),
        (
            json!({"hosts": ["foo.bar"], "http": [{
                "match": [{"uri": {"prefix": "/api/v1/product"}}, {"uri": {"prefix": "/api/v1/products"}, "method": {"exact": "GET"}}],
                "route": [{"destination": {"host": "a"}}],
            }]}),
            "spec.http[0].match[1]",
            "match #1 of prefix /api/v1/products is not used (duplicate/overlapping match in rule #0 of prefix /api/v1/product on #0)",
        ),
    ];
    for (spec, path, message) in rows {
        let found = issues("default", spec);
        assert!(errors(&found).is_empty(), "{path}: unexpected errors\n{}", render(&found));
        assert!(
            found
                .iter()
                .any(|i| i.severity == Severity::Warning && i.path.to_string() == path && i.message.contains(message)),
            "want warning at {path} containing {message:?}; got\n{}",
            render(&found)
        );
    }
}

#[test]
fn malformed_fields_fail_to_decode() {
    for (spec, want) in [
        (to_baz(json!({"redirect": {"derivePort": "FROM_NOWHERE"}})), "FROM_NOWHERE"),
        (to_baz(json!({"timeout": "soon"})), "invalid duration \"soon\""),
        (to_baz(json!({"appendHeaders": {"a": "b"}})), "unknown field `appendHeaders`"),
        (to_baz(json!({"corsPolicy": {"unmatchedPreflights": "DROP"}})), "DROP"),
    ] {
        match Resource::decode(Kind::VirtualService, document("default", spec)) {
            Ok(_) => panic!("{want}: decoded"),
            Err(e) => assert!(e.to_string().contains(want), "{e}"),
        }
    }
}

#[test]
fn istio_edge_cases_are_valid() {
    let dest = || json!([{"destination": {"host": "foo.baz"}}]);
    for spec in [
        // A delegate (no hosts) with plain routes, and a root that delegates to it.
        json!({"http": [{"match": [{"sourceNamespace": "test"}], "route": dest()}]}),
        json!({"hosts": ["foo.bar"], "gateways": ["test-gateway"], "http": [{"delegate": {"name": "test", "namespace": "test"}}]}),
        // Weights are relative: any positive total is fine; a lone destination may weigh 0.
        json!({"hosts": ["foo.bar"], "http": [{"route": [{"destination": {"host": "a"}, "weight": 550}, {"destination": {"host": "b"}, "weight": 500}]}]}),
        json!({"hosts": ["foo.bar"], "tcp": [{"route": [{"destination": {"host": "a"}, "weight": 0}]}]}),
        // `*` and auto-generated SNI names on gateways; IPs as hosts.
        json!({"hosts": ["*"], "gateways": ["somegateway"], "http": [{"route": dest()}]}),
        json!({"hosts": ["outbound_.15010_._.istiod.istio-system.svc.cluster.local"], "gateways": ["ns1/gateway"], "tls": [{
            "match": [{"sniHosts": ["outbound_.15010_._.istiod.istio-system.svc.cluster.local"]}],
            "route": [{"destination": {"host": "istio.istio-system.svc.cluster.local"}}],
        }]}),
        json!({"hosts": ["10.0.0.1"], "http": [{"route": dest()}]}),
        // Empty uri prefix, presence matches, `regex: "*"` in withoutHeaders, pseudo-header match.
        json!({"hosts": ["foo.bar"], "http": [{"match": [{
            "uri": {"prefix": ""},
            "headers": {"x-present": {}, ":authority": {"exact": "a"}},
            "withoutHeaders": {"x-absent": {"regex": "*"}},
            "queryParams": {"debug": {"exact": ""}},
        }], "route": dest()}]}),
        // JWT claims on a gateway; Envoy variables in header values; setting :authority once.
        json!({"hosts": ["foo.bar"], "gateways": ["ns/gw"], "http": [{
            "match": [{"headers": {"@request.auth.claims.groups": {"exact": "admin"}}}],
            "headers": {"request": {"set": {":authority": "foo", "x-host": "%HOSTNAME%"}, "add": {"x-pct": "100%%"}}},
            "route": dest(),
        }]}),
        // prefixRewrite with prefix matches; redirect by derivePort only; full retry and CORS policies.
        json!({"hosts": ["foo.bar"], "http": [
            {"match": [{"uri": {"prefix": "/foo"}}], "redirect": {"prefixRewrite": "/bar", "redirectCode": 308}},
            {"redirect": {"derivePort": "FROM_REQUEST_PORT", "scheme": "https"}},
        ]}),
        json!({"hosts": ["foo.bar"], "http": [{
            "route": dest(),
            "timeout": "10s",
            "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "503,connect-failure,unavailable", "backoff": "25ms",
                        "retryRemoteLocalities": true, "retryIgnorePreviousHosts": false},
            "corsPolicy": {"allowOrigins": [{"exact": "https://a.com"}, {"regex": "https://.*\\.b\\.com"}], "allowMethods": ["GET", "*"],
                           "allowHeaders": ["*", "x-a"], "maxAge": "24h", "allowCredentials": true, "unmatchedPreflights": "IGNORE"},
            "fault": {"delay": {"fixedDelay": "5s", "percentage": {"value": 0.001}}, "abort": {"grpcStatus": "UNAVAILABLE"}},
            "mirrors": [{"destination": {"host": "m", "subset": "v2"}, "percentage": {"value": 50}}],
        }]}),
        json!({"hosts": ["foo.bar"], "http": [{"directResponse": {"status": 503, "body": {"bytes": "aGVsbG8="}}}]}),
    ] {
        let found = issues("test", spec.clone());
        assert!(errors(&found).is_empty(), "{spec}\n{}", render(&found));
    }
}

#[test]
fn istio_sample_and_test_configs_are_valid() {
    for (name, namespace, spec) in valid::documents() {
        let found = issues(namespace, spec);
        assert!(errors(&found).is_empty(), "{name}:\n{}", render(&found));
    }
}
