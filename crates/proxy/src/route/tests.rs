//! Table tests of routing over hand-built Envoy route configs (the configs the control plane
//! really generates are exercised in `tests/control_plane_config.rs`).

use super::*;
use crate::config::RouteTable;
use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, HeaderMatcher, QueryParameterMatcher, RedirectAction, Route as EnvoyRoute, RouteAction,
    RouteConfiguration, RouteMatch, VirtualHost as EnvoyVhost, WeightedCluster, header_matcher::HeaderMatchSpecifier,
    query_parameter_matcher::QueryParameterMatchSpecifier, redirect_action, route, route_action::ClusterSpecifier,
    route_match::PathSpecifier, weighted_cluster::ClusterWeight,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{RegexMatcher, StringMatcher, string_matcher::MatchPattern};
use envoy_types::pb::google::protobuf::{BoolValue, UInt32Value};

fn to(cluster: &str) -> Option<route::Action> {
    Some(route::Action::Route(RouteAction {
        cluster_specifier: Some(ClusterSpecifier::Cluster(cluster.into())),
        ..Default::default()
    }))
}

fn rt(name: &str, path: PathSpecifier, headers: Vec<HeaderMatcher>, action: Option<route::Action>) -> EnvoyRoute {
    EnvoyRoute {
        name: name.into(),
        r#match: Some(RouteMatch { path_specifier: Some(path), headers, ..Default::default() }),
        action,
        ..Default::default()
    }
}

fn exact_header(name: &str, value: &str, invert: bool) -> HeaderMatcher {
    HeaderMatcher {
        name: name.into(),
        header_match_specifier: Some(HeaderMatchSpecifier::StringMatch(StringMatcher {
            match_pattern: Some(MatchPattern::Exact(value.into())),
            ignore_case: false,
        })),
        invert_match: invert,
        treat_missing_header_as_empty: invert,
    }
}

fn prefix(p: &str) -> PathSpecifier {
    PathSpecifier::Prefix(p.into())
}

fn table() -> RouteTable {
    let reviews = EnvoyVhost {
        name: "reviews:9080".into(),
        domains: vec!["reviews:9080".into(), "reviews.default.svc.cluster.local:9080".into()],
        routes: vec![
            rt("jason", prefix("/"), vec![exact_header("end-user", "jason", false)], to("v2")),
            rt("not-bob", prefix("/api"), vec![exact_header("end-user", "bob", true)], to("v3")),
            rt(
                "regex",
                PathSpecifier::SafeRegex(RegexMatcher { regex: "/items/[0-9]+".into(), engine_type: None }),
                vec![],
                to("items"),
            ),
            rt("exact", PathSpecifier::Path("/exact".into()), vec![], to("exact")),
            EnvoyRoute {
                name: "query".into(),
                r#match: Some(RouteMatch {
                    path_specifier: Some(prefix("/q")),
                    query_parameters: vec![QueryParameterMatcher {
                        name: "debug".into(),
                        query_parameter_match_specifier: Some(QueryParameterMatchSpecifier::PresentMatch(true)),
                    }],
                    ..Default::default()
                }),
                action: to("debug"),
                ..Default::default()
            },
            EnvoyRoute {
                name: "nocase".into(),
                r#match: Some(RouteMatch {
                    path_specifier: Some(prefix("/Case")),
                    case_sensitive: Some(BoolValue { value: false }),
                    ..Default::default()
                }),
                action: to("nocase"),
                ..Default::default()
            },
            rt(
                "moved",
                prefix("/old"),
                vec![],
                Some(route::Action::Redirect(RedirectAction {
                    host_redirect: "new.example".into(),
                    path_rewrite_specifier: Some(redirect_action::PathRewriteSpecifier::PrefixRewrite("/new".into())),
                    ..Default::default()
                })),
            ),
            rt(
                "teapot",
                prefix("/tea"),
                vec![],
                Some(route::Action::DirectResponse(DirectResponseAction { status: 418, ..Default::default() })),
            ),
            rt("default", prefix("/"), vec![], to("v1")),
        ],
        ..Default::default()
    };
    let weights = |ws: &[(&str, u32)]| WeightedCluster {
        clusters: ws
            .iter()
            .map(|(n, w)| ClusterWeight {
                name: (*n).into(),
                weight: Some(UInt32Value { value: *w }),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let split = EnvoyVhost {
        name: "split".into(),
        domains: vec!["split".into()],
        routes: vec![rt(
            "split",
            prefix("/"),
            vec![],
            Some(route::Action::Route(RouteAction {
                cluster_specifier: Some(ClusterSpecifier::WeightedClusters(weights(&[("v1", 80), ("v2", 20)]))),
                ..Default::default()
            })),
        )],
        ..Default::default()
    };
    let rc = RouteConfiguration { name: "t".into(), virtual_hosts: vec![reviews, split], ..Default::default() };
    RouteTable::try_from(&rc).expect("compiles")
}

/// The route name and cluster (or `redirect LOCATION` / `direct STATUS`) for a request.
fn decide(
    table: &RouteTable,
    method: &Method,
    authority: &str,
    path: &str,
    headers: &[(&'static str, &'static str)],
) -> String {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(http::HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    let req = Request { method, authority, path, scheme: "http", headers: &map };
    match plan(table, &req) {
        None => "NR".into(),
        Some(p) => match p.decision {
            Decision::Forward { cluster, .. } => format!("{} {cluster}", p.route.name),
            Decision::Redirect { location, status } => format!("{} {status} {location}", p.route.name),
            Decision::Direct(d) => format!("{} {}", p.route.name, d.status),
        },
    }
}

#[test]
#[allow(clippy::type_complexity)]
fn routes_match_in_order() {
    let t = table();
    let get = &Method::GET;
    let cases: &[(&Method, &str, &str, &[(&'static str, &'static str)], &str)] = &[
        (get, "reviews:9080", "/", &[("end-user", "jason")], "jason v2"),
        (get, "REVIEWS:9080", "/", &[("end-user", "jason")], "jason v2"),
        (get, "reviews:9080", "/", &[], "default v1"),
        (get, "reviews:9080", "/api/x", &[], "not-bob v3"),
        (get, "reviews:9080", "/api/x", &[("end-user", "bob")], "default v1"),
        (get, "reviews:9080", "/items/42", &[], "regex items"),
        (get, "reviews:9080", "/items/42/x", &[], "default v1"),
        (get, "reviews:9080", "/items/42?x=1", &[], "regex items"),
        (get, "reviews:9080", "/exact?x=1", &[], "exact exact"),
        (get, "reviews:9080", "/exact/", &[], "default v1"),
        (get, "reviews:9080", "/q?a=1&debug", &[], "query debug"),
        (get, "reviews:9080", "/q?a=1", &[], "default v1"),
        (get, "reviews:9080", "/cAsE/x", &[], "nocase nocase"),
        (get, "reviews:9080", "/old/a?b=1", &[], "moved 301 http://new.example/new/a?b=1"),
        (get, "reviews:9080", "/tea", &[], "teapot 418"),
        (get, "ratings:9080", "/", &[], "NR"),
        (&Method::CONNECT, "reviews:9080", "", &[], "NR"),
    ];
    for (method, authority, path, headers, want) in cases {
        assert_eq!(decide(&t, method, authority, path, headers), *want, "{method} {authority}{path} {headers:?}");
    }
}

#[test]
fn weighted_route_splits_exactly() {
    let t = table();
    for _ in 0..10 {
        let picks: Vec<String> = (0..10).map(|_| decide(&t, &Method::GET, "split", "/", &[])).collect();
        assert_eq!(picks.iter().filter(|p| *p == "split v1").count(), 8, "{picks:?}");
        assert_eq!(picks.iter().filter(|p| *p == "split v2").count(), 2, "{picks:?}");
    }
}

#[test]
fn rewrites_apply_to_the_upstream_path() {
    let mut action = RouteAction {
        cluster_specifier: Some(ClusterSpecifier::Cluster("c".into())),
        prefix_rewrite: "/v2/".into(),
        ..Default::default()
    };
    let rc = |action: RouteAction, path: PathSpecifier| RouteConfiguration {
        virtual_hosts: vec![EnvoyVhost {
            domains: vec!["*".into()],
            routes: vec![rt("r", path, vec![], Some(route::Action::Route(action)))],
            ..Default::default()
        }],
        ..Default::default()
    };
    let map = HeaderMap::new();
    let req = |path| Request { method: &Method::GET, authority: "h", path, scheme: "http", headers: &map };
    let t = RouteTable::try_from(&rc(action.clone(), prefix("/v1/"))).expect("compiles");
    let p = plan(&t, &req("/v1/items?x=1")).expect("matches");
    assert_eq!(p.upstream_path("/v1/items?x=1"), "/v2/items?x=1");
    action.prefix_rewrite.clear();
    action.regex_rewrite = Some(envoy_types::pb::envoy::r#type::matcher::v3::RegexMatchAndSubstitute {
        pattern: Some(RegexMatcher { regex: "^/users/([0-9]+)$".into(), engine_type: None }),
        substitution: r"/u/\1".into(),
    });
    let t = RouteTable::try_from(&rc(action, prefix("/"))).expect("compiles");
    let p = plan(&t, &req("/users/7?y")).expect("matches");
    assert_eq!(p.upstream_path("/users/7?y"), "/u/7?y");
}
