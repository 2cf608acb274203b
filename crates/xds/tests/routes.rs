//! RDS tests: virtual host domains, the default route, one table row per VirtualService
//! feature (asserting the Envoy route fields Istio would produce), the `http_proxy` config,
//! the catch-all host, VirtualService scoping, and Bookinfo's samples from Istio's corpus.

mod lds_rds_fixture;

use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration,
    header_matcher::HeaderMatchSpecifier,
    redirect_action, route,
    route_action::{ClusterSpecifier, HostRewriteSpecifier},
    route_match::PathSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::http::cors::v3::CorsPolicy;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{HttpFault, fault_abort::ErrorType};
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern;
use lds_rds_fixture::{add_yaml, bookinfo, proxy, unpack};
use serde_json::json;
use strait_model::mesh::{OutboundMode, OutboundTrafficPolicy};
use strait_model::{Kind, Resource};
use strait_registry::Registry;
use strait_xds::routes;
use strait_xds::scope::Scope;

const REVIEWS: &str = "reviews.default.svc.cluster.local";

fn build(reg: &Registry) -> Vec<RouteConfiguration> {
    let p = proxy("127.0.0.10", "default");
    routes::build(&Scope::new(reg, &p))
}

fn config<'a>(rcs: &'a [RouteConfiguration], name: &str) -> &'a RouteConfiguration {
    rcs.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no route config {name}"))
}

fn reviews_routes(reg: &Registry) -> Vec<Route> {
    let rcs = build(reg);
    let vh = config(&rcs, "9080").virtual_hosts.iter().find(|v| v.name == format!("{REVIEWS}:9080")).cloned();
    vh.expect("reviews vhost").routes
}

fn with_vs(spec: serde_json::Value) -> Registry {
    let mut reg = bookinfo();
    let doc = json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "reviews", "namespace": "default"}, "spec": spec});
    match Resource::decode(Kind::VirtualService, doc).expect("decodes") {
        Resource::VirtualService(vs) => reg.config.virtual_services.push(vs),
        _ => unreachable!(),
    }
    reg
}

fn action(r: &Route) -> &RouteAction {
    match &r.action {
        Some(route::Action::Route(a)) => a,
        other => panic!("not a route action: {other:?}"),
    }
}

fn cluster(r: &Route) -> &str {
    match &action(r).cluster_specifier {
        Some(ClusterSpecifier::Cluster(c)) => c,
        other => panic!("not one cluster: {other:?}"),
    }
}

fn path(r: &Route) -> PathSpecifier {
    r.r#match.as_ref().and_then(|m| m.path_specifier.clone()).expect("path")
}

fn header_exact(r: &Route, name: &str) -> Option<String> {
    let h = r.r#match.as_ref()?.headers.iter().find(|h| h.name == name)?;
    match &h.header_match_specifier {
        Some(HeaderMatchSpecifier::StringMatch(sm)) => match &sm.match_pattern {
            Some(MatchPattern::Exact(e)) => Some(e.clone()),
            Some(MatchPattern::Prefix(p)) => Some(format!("prefix:{p}")),
            Some(MatchPattern::SafeRegex(re)) => Some(format!("regex:{}", re.regex)),
            _ => None,
        },
        Some(HeaderMatchSpecifier::PresentMatch(true)) => Some(format!("present:{}", h.invert_match)),
        _ => None,
    }
}

fn dest(subset: &str) -> serde_json::Value {
    json!({"destination": {"host": "reviews", "subset": subset}})
}

#[test]
fn domains_of_a_service() {
    let rcs = build(&bookinfo());
    let vh = config(&rcs, "9080").virtual_hosts.iter().find(|v| v.name == format!("{REVIEWS}:9080")).expect("vh");
    let want = [
        REVIEWS,
        "reviews.default.svc.cluster.local:9080",
        "reviews",
        "reviews:9080",
        "reviews.default.svc",
        "reviews.default.svc:9080",
        "reviews.default",
        "reviews.default:9080",
        "10.96.0.13",
        "10.96.0.13:9080",
    ];
    assert_eq!(vh.domains, want);
    // From another namespace the bare name is not offered (it would clash across namespaces).
    let p = proxy("127.0.0.99", "other");
    let reg = bookinfo();
    let rcs = routes::build(&Scope::new(&reg, &p));
    let vh = config(&rcs, "9080").virtual_hosts.iter().find(|v| v.name == format!("{REVIEWS}:9080")).expect("vh");
    assert!(!vh.domains.iter().any(|d| d == "reviews" || d == "reviews:9080"), "{:?}", vh.domains);
    assert!(vh.domains.iter().any(|d| d == "reviews.default:9080"));
}

#[test]
fn default_route_and_catch_all() {
    let reg = bookinfo();
    let rcs = build(&reg);
    assert_eq!(rcs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["9080", "http_proxy"]);
    let routes = reviews_routes(&reg);
    assert_eq!(routes.len(), 1);
    let r = &routes[0];
    assert_eq!((r.name.as_str(), cluster(r)), ("default", "outbound|9080||reviews.default.svc.cluster.local"));
    assert_eq!(path(r), PathSpecifier::Prefix("/".into()));
    let a = action(r);
    assert_eq!(a.timeout.map(|t| t.seconds), Some(0));
    let retry = a.retry_policy.as_ref().expect("default retries");
    assert_eq!(retry.retry_on, "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes");
    assert_eq!(retry.num_retries.map(|n| n.value), Some(2));
    assert_eq!(retry.host_selection_retry_max_attempts, 5);
    assert_eq!(retry.retry_host_predicate[0].name, "envoy.retry_host_predicates.previous_hosts");
    let last = config(&rcs, "9080").virtual_hosts.last().expect("catch-all");
    assert_eq!((last.name.as_str(), last.domains.as_slice()), ("allow_any", &["*".to_string()][..]));
    assert_eq!(cluster(&last.routes[0]), "PassthroughCluster");

    let mut reg = bookinfo();
    reg.mesh.outbound_traffic_policy =
        Some(OutboundTrafficPolicy { mode: Some(OutboundMode::RegistryOnly), tls: None });
    let rcs = build(&reg);
    let last = config(&rcs, "9080").virtual_hosts.last().expect("catch-all");
    assert_eq!(last.name, "block_all");
    assert!(matches!(&last.routes[0].action, Some(route::Action::DirectResponse(d)) if d.status == 502));
}

#[test]
fn http_proxy_config_uses_port_qualified_domains() {
    let rcs = build(&bookinfo());
    let hp = config(&rcs, "http_proxy");
    let vh = hp.virtual_hosts.iter().find(|v| v.name == format!("{REVIEWS}:9080")).expect("vh");
    assert!(vh.domains.iter().all(|d| d.ends_with(":9080")), "{:?}", vh.domains);
    assert!(vh.domains.iter().any(|d| d == "reviews:9080"));
    assert_eq!(hp.virtual_hosts.last().map(|v| v.name.as_str()), Some("allow_any"));
    // Every domain appears once in a route config (Envoy rejects duplicates).
    let mut all: Vec<_> = hp.virtual_hosts.iter().flat_map(|v| v.domains.iter()).collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n);
}

type Check = fn(&[Route]);

#[test]
fn virtual_service_features() {
    let rows: Vec<(&str, serde_json::Value, Check)> = vec![
        ("uri exact", json!([{"match": [{"uri": {"exact": "/a"}}], "route": [dest("v1")]}]), |r| {
            assert_eq!(path(&r[0]), PathSpecifier::Path("/a".into()));
            assert_eq!(cluster(&r[0]), "outbound|9080|v1|reviews.default.svc.cluster.local");
        }),
        ("uri prefix", json!([{"match": [{"uri": {"prefix": "/api"}}], "route": [dest("v1")]}]), |r| {
            assert_eq!(path(&r[0]), PathSpecifier::Prefix("/api".into()))
        }),
        ("uri regex", json!([{"match": [{"uri": {"regex": "/u/[0-9]+"}}], "route": [dest("v1")]}]), |r| {
            assert!(matches!(path(&r[0]), PathSpecifier::SafeRegex(re) if re.regex == "/u/[0-9]+"))
        }),
        (
            "ignoreUriCase",
            json!([{"match": [{"uri": {"prefix": "/A"}, "ignoreUriCase": true}], "route": [dest("v1")]}]),
            |r| assert_eq!(r[0].r#match.as_ref().and_then(|m| m.case_sensitive).map(|b| b.value), Some(false)),
        ),
        (
            "headers",
            json!([{"match": [{"headers": {"end-user": {"exact": "jason"}, "x-p": {"prefix": "a"}, "x-r": {"regex": "b.*"}, "x-any": {}}}], "route": [dest("v2")]}]),
            |r| {
                assert_eq!(header_exact(&r[0], "end-user").as_deref(), Some("jason"));
                assert_eq!(header_exact(&r[0], "x-p").as_deref(), Some("prefix:a"));
                assert_eq!(header_exact(&r[0], "x-r").as_deref(), Some("regex:b.*"));
                assert_eq!(header_exact(&r[0], "x-any").as_deref(), Some("present:false"));
            },
        ),
        (
            "withoutHeaders",
            json!([{"match": [{"withoutHeaders": {"x-debug": {"exact": "1"}}}], "route": [dest("v1")]}]),
            |r| {
                let h = &r[0].r#match.as_ref().expect("match").headers[0];
                assert!(h.invert_match && h.treat_missing_header_as_empty);
            },
        ),
        ("queryParams", json!([{"match": [{"queryParams": {"v": {"exact": "2"}}}], "route": [dest("v2")]}]), |r| {
            let q = &r[0].r#match.as_ref().expect("match").query_parameters;
            assert_eq!(q[0].name, "v");
        }),
        (
            "method authority scheme",
            json!([{"match": [{"method": {"exact": "GET"}, "authority": {"prefix": "rev"}, "scheme": {"exact": "http"}}], "route": [dest("v1")]}]),
            |r| {
                assert_eq!(header_exact(&r[0], ":method").as_deref(), Some("GET"));
                assert_eq!(header_exact(&r[0], ":authority").as_deref(), Some("prefix:rev"));
                assert_eq!(header_exact(&r[0], ":scheme").as_deref(), Some("http"));
            },
        ),
        (
            "port match elsewhere drops the route",
            json!([{"match": [{"port": 8080}], "route": [dest("v1")]}, {"route": [dest("v2")]}]),
            |r| {
                assert_eq!(r.len(), 1);
                assert_eq!(cluster(&r[0]), "outbound|9080|v2|reviews.default.svc.cluster.local");
            },
        ),
        (
            "several matches, same action",
            json!([{"name": "r", "match": [{"name": "a", "uri": {"prefix": "/a"}}, {"uri": {"prefix": "/b"}}], "route": [dest("v3")]}]),
            |r| {
                assert_eq!(r.len(), 2);
                assert_eq!((r[0].name.as_str(), r[1].name.as_str()), ("r.a", "r"));
                assert_eq!(cluster(&r[0]), cluster(&r[1]));
            },
        ),
        (
            "weights",
            json!([{"route": [{"destination": {"host": "reviews", "subset": "v1"}, "weight": 80}, {"destination": {"host": "reviews", "subset": "v2"}, "weight": 20}, {"destination": {"host": "reviews", "subset": "v3"}, "weight": 0}]}]),
            |r| {
                let Some(ClusterSpecifier::WeightedClusters(w)) = &action(&r[0]).cluster_specifier else { panic!() };
                let got: Vec<_> = w.clusters.iter().map(|c| (c.name.as_str(), c.weight.map(|w| w.value))).collect();
                assert_eq!(
                    got,
                    [
                        ("outbound|9080|v1|reviews.default.svc.cluster.local", Some(80)),
                        ("outbound|9080|v2|reviews.default.svc.cluster.local", Some(20))
                    ]
                );
            },
        ),
        (
            "destination port and other host",
            json!([{"route": [{"destination": {"host": "ratings.default.svc.cluster.local", "port": {"number": 8080}}}]}]),
            |r| assert_eq!(cluster(&r[0]), "outbound|8080||ratings.default.svc.cluster.local"),
        ),
        (
            "redirect",
            json!([{"redirect": {"uri": "/new", "authority": "x.com", "redirectCode": 302, "scheme": "https"}}]),
            |r| {
                let Some(route::Action::Redirect(rd)) = &r[0].action else { panic!() };
                assert_eq!(rd.host_redirect, "x.com");
                assert_eq!(rd.response_code, redirect_action::RedirectResponseCode::Found as i32);
                assert_eq!(
                    rd.path_rewrite_specifier,
                    Some(redirect_action::PathRewriteSpecifier::PathRedirect("/new".into()))
                );
                assert_eq!(
                    rd.scheme_rewrite_specifier,
                    Some(redirect_action::SchemeRewriteSpecifier::SchemeRedirect("https".into()))
                );
            },
        ),
        (
            "redirect derivePort",
            json!([{"match": [{"uri": {"prefix": "/old"}}], "redirect": {"prefixRewrite": "/new", "derivePort": "FROM_REQUEST_PORT"}}]),
            |r| {
                let Some(route::Action::Redirect(rd)) = &r[0].action else { panic!() };
                assert_eq!((rd.port_redirect, rd.response_code), (9080, 0));
                assert_eq!(
                    rd.path_rewrite_specifier,
                    Some(redirect_action::PathRewriteSpecifier::PrefixRewrite("/new".into()))
                );
            },
        ),
        ("rewrite", json!([{"rewrite": {"uri": "/v2", "authority": "internal"}, "route": [dest("v1")]}]), |r| {
            let a = action(&r[0]);
            assert_eq!(a.prefix_rewrite, "/v2");
            assert_eq!(a.host_rewrite_specifier, Some(HostRewriteSpecifier::HostRewriteLiteral("internal".into())));
        }),
        (
            "regex rewrite",
            json!([{"rewrite": {"uriRegexRewrite": {"match": "^/a/(.*)", "rewrite": "/\\1"}}, "route": [dest("v1")]}]),
            |r| {
                let re = action(&r[0]).regex_rewrite.as_ref().expect("regex rewrite");
                assert_eq!(
                    (re.pattern.as_ref().map(|p| p.regex.as_str()), re.substitution.as_str()),
                    (Some("^/a/(.*)"), "/\\1")
                );
            },
        ),
        ("directResponse", json!([{"directResponse": {"status": 503, "body": {"string": "down"}}}]), |r| {
            let Some(route::Action::DirectResponse(d)) = &r[0].action else { panic!() };
            assert_eq!(d.status, 503);
            assert!(format!("{:?}", d.body).contains("down"));
        }),
        (
            "headers ops",
            json!([{"headers": {"request": {"set": {"x-a": "1"}, "add": {"x-b": "2"}, "remove": ["x-c"]}, "response": {"remove": ["server"]}}, "route": [{"destination": {"host": "reviews"}, "headers": {"request": {"set": {"x-d": "4"}}}}]}]),
            |r| {
                let keys: Vec<_> = r[0]
                    .request_headers_to_add
                    .iter()
                    .map(|h| h.header.as_ref().map(|h| h.key.as_str()).unwrap_or(""))
                    .collect();
                assert_eq!(keys, ["x-a", "x-b", "x-d"]);
                assert_eq!(r[0].request_headers_to_remove, ["x-c"]);
                assert_eq!(r[0].response_headers_to_remove, ["server"]);
            },
        ),
        (
            "timeout and retries",
            json!([{"timeout": "2s", "retries": {"attempts": 3, "perTryTimeout": "1s", "retryOn": "5xx,503"}, "route": [dest("v1")]}]),
            |r| {
                let a = action(&r[0]);
                assert_eq!(a.timeout.map(|t| t.seconds), Some(2));
                let p = a.retry_policy.as_ref().expect("retry");
                assert_eq!(
                    (p.num_retries.map(|n| n.value), p.retry_on.as_str()),
                    (Some(3), "5xx,retriable-status-codes")
                );
                assert_eq!(p.retriable_status_codes, [503]);
                assert_eq!(p.per_try_timeout.map(|d| d.seconds), Some(1));
            },
        ),
        ("attempts 0 disables retries", json!([{"retries": {"attempts": 0}, "route": [dest("v1")]}]), |r| {
            assert!(action(&r[0]).retry_policy.is_none())
        }),
        (
            "fault",
            json!([{"fault": {"delay": {"fixedDelay": "7s", "percentage": {"value": 50}}, "abort": {"httpStatus": 500, "percentage": {"value": 0.1}}}, "timeout": "1s", "route": [dest("v1")]}]),
            |r| {
                let f: HttpFault = unpack(&r[0].typed_per_filter_config["envoy.filters.http.fault"]);
                let d = f.delay.expect("delay");
                assert_eq!(d.percentage.map(|p| (p.numerator, p.denominator)), Some((500_000, 2)));
                let a = f.abort.expect("abort");
                assert_eq!(a.error_type, Some(ErrorType::HttpStatus(500)));
                assert_eq!(a.percentage.map(|p| p.numerator), Some(1000));
                // A faulty route gets neither retries nor the timeout.
                assert!(action(&r[0]).retry_policy.is_none());
                assert_eq!(action(&r[0]).timeout.map(|t| t.seconds), Some(0));
            },
        ),
        (
            "grpc abort",
            json!([{"fault": {"abort": {"grpcStatus": "UNAVAILABLE", "percentage": {"value": 100}}}, "route": [dest("v1")]}]),
            |r| {
                let f: HttpFault = unpack(&r[0].typed_per_filter_config["envoy.filters.http.fault"]);
                assert_eq!(f.abort.and_then(|a| a.error_type), Some(ErrorType::GrpcStatus(14)));
            },
        ),
        (
            "mirror",
            json!([{"mirror": {"host": "reviews", "subset": "v2"}, "mirrorPercentage": {"value": 25}, "route": [dest("v1")]}]),
            |r| {
                let m = &action(&r[0]).request_mirror_policies[0];
                assert_eq!(m.cluster, "outbound|9080|v2|reviews.default.svc.cluster.local");
                assert_eq!(
                    m.runtime_fraction.as_ref().and_then(|f| f.default_value).map(|v| v.numerator),
                    Some(250_000)
                );
            },
        ),
        (
            "mirrors",
            json!([{"mirrors": [{"destination": {"host": "reviews", "subset": "v3"}}], "route": [dest("v1")]}]),
            |r| {
                let m = &action(&r[0]).request_mirror_policies[0];
                assert_eq!(
                    m.runtime_fraction.as_ref().and_then(|f| f.default_value).map(|v| (v.numerator, v.denominator)),
                    Some((100, 0))
                );
            },
        ),
        (
            "cors",
            json!([{"corsPolicy": {"allowOrigins": [{"exact": "https://a.com"}], "allowMethods": ["GET", "POST"], "maxAge": "24h", "allowCredentials": true}, "route": [dest("v1")]}]),
            |r| {
                let c: CorsPolicy = unpack(&r[0].typed_per_filter_config["envoy.filters.http.cors"]);
                assert_eq!((c.allow_methods.as_str(), c.max_age.as_str()), ("GET,POST", "86400"));
                assert_eq!(c.allow_origin_string_match.len(), 1);
                assert_eq!(c.allow_credentials.map(|b| b.value), Some(true));
            },
        ),
        (
            "sourceLabels not matching this proxy",
            json!([{"match": [{"sourceLabels": {"app": "reviews"}}], "route": [dest("v2")]}, {"route": [dest("v1")]}]),
            |r| {
                assert_eq!(r.len(), 1);
                assert_eq!(cluster(&r[0]), "outbound|9080|v1|reviews.default.svc.cluster.local");
            },
        ),
    ];
    for (name, http, check) in rows {
        let reg = with_vs(json!({"hosts": ["reviews"], "http": http}));
        let routes = reviews_routes(&reg);
        assert!(!routes.is_empty(), "{name}: no routes");
        eprintln!("row: {name}");
        check(&routes);
    }
}

#[test]
fn virtual_service_scoping() {
    // Bound only to a gateway: the sidecar keeps the default route.
    let reg =
        with_vs(json!({"hosts": ["reviews"], "gateways": ["bookinfo-gateway"], "http": [{"route": [dest("v1")]}]}));
    assert_eq!(reviews_routes(&reg)[0].name, "default");
    // exportTo "." hides it from other namespaces.
    let reg = with_vs(json!({"hosts": ["reviews"], "exportTo": ["."], "http": [{"route": [dest("v1")]}]}));
    assert_eq!(cluster(&reviews_routes(&reg)[0]), "outbound|9080|v1|reviews.default.svc.cluster.local");
    let p = proxy("127.0.0.99", "other");
    let rcs = routes::build(&Scope::new(&reg, &p));
    let vh = config(&rcs, "9080").virtual_hosts.iter().find(|v| v.name == format!("{REVIEWS}:9080")).expect("vh");
    assert_eq!(vh.routes[0].name, "default");
}

fn corpus_file(name: &str) -> Option<String> {
    let dir = strait_testkit::istio_corpus()?;
    std::fs::read_to_string(dir.join("samples/bookinfo/networking").join(name)).ok()
}

#[test]
fn bookinfo_samples() {
    let Some(all_v1) = corpus_file("virtual-service-all-v1.yaml") else { return };
    let mut reg = bookinfo();
    add_yaml(&mut reg, &all_v1);
    let r = reviews_routes(&reg);
    assert_eq!(cluster(&r[0]), "outbound|9080|v1|reviews.default.svc.cluster.local");

    let Some(split) = corpus_file("virtual-service-reviews-80-20.yaml") else { return };
    let mut reg = bookinfo();
    add_yaml(&mut reg, &split);
    let r = reviews_routes(&reg);
    let Some(ClusterSpecifier::WeightedClusters(w)) = &action(&r[0]).cluster_specifier else { panic!("weighted") };
    let got: Vec<_> = w.clusters.iter().map(|c| (c.name.as_str(), c.weight.map(|w| w.value).unwrap_or(0))).collect();
    let v = |s| format!("outbound|9080|{s}|{REVIEWS}");
    assert_eq!(got, [(v("v1").as_str(), 80), (v("v2").as_str(), 20)]);

    let Some(test_v2) = corpus_file("virtual-service-reviews-test-v2.yaml") else { return };
    let mut reg = bookinfo();
    add_yaml(&mut reg, &test_v2);
    let r = reviews_routes(&reg);
    assert_eq!(header_exact(&r[0], "end-user").as_deref(), Some("jason"));
    assert_eq!((cluster(&r[0]), cluster(&r[1])), (v("v2").as_str(), v("v1").as_str()));

    let Some(abort) = corpus_file("virtual-service-ratings-test-abort.yaml") else { return };
    let mut reg = bookinfo();
    add_yaml(&mut reg, &abort);
    let rcs = build(&reg);
    let vh = config(&rcs, "9080").virtual_hosts.iter().find(|v| v.name.starts_with("ratings.")).expect("ratings");
    let f: HttpFault = unpack(&vh.routes[0].typed_per_filter_config["envoy.filters.http.fault"]);
    let a = f.abort.expect("abort");
    assert_eq!(a.error_type, Some(ErrorType::HttpStatus(500)));
    assert_eq!(a.percentage.map(|p| (p.numerator, p.denominator)), Some((1_000_000, 2)));
    assert!(vh.routes[1].typed_per_filter_config.is_empty());
}
