//! Table tests of the CORS decisions (origin matching, preflight answers, what responses get).

use super::*;
use crate::config::matcher::{Pattern, StringMatch};

fn exact(s: &str) -> StringMatch {
    StringMatch { pattern: Pattern::Exact(s.into()), ignore_case: false }
}

fn regex(s: &str) -> StringMatch {
    StringMatch {
        pattern: Pattern::Regex(regex::Regex::new(&format!("^(?:{s})$")).expect("regex")),
        ignore_case: false,
    }
}

/// Istio's translation of a typical `corsPolicy`.
fn istio() -> Cors {
    Cors {
        allow_origins: vec![exact("https://a.example"), regex(r"https://.*\.b\.example")],
        allow_methods: "GET,POST".into(),
        allow_headers: "x-custom,content-type".into(),
        expose_headers: "x-exposed".into(),
        max_age: "86400".into(),
        allow_credentials: Some(true),
        forward_not_matching_preflights: Some(true),
        enabled: 1_000_000,
        ..Cors::default()
    }
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    pairs.iter().map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
}

fn names(h: &HeaderMap) -> Vec<String> {
    h.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or_default())).collect()
}

#[test]
fn origins_match_like_envoy() {
    let p = istio();
    let policies = Policies::new(Some(&p), None);
    let table = [
        ("https://a.example", true),
        ("https://x.b.example", true),
        ("https://b.example", false),
        ("https://a.example.evil", false),
        ("http://a.example", false),
    ];
    for (origin, want) in table {
        assert_eq!(policies.origin_allowed(origin), want, "{origin}");
    }
    let star = Cors { allow_origins: vec![exact("*")], ..istio() };
    assert!(Policies::new(Some(&star), None).origin_allowed("https://anything"), "a matcher admitting * admits all");
    let none = Cors { allow_origins: Vec::new(), ..istio() };
    assert!(!Policies::new(Some(&none), None).origin_allowed("https://a.example"), "no origins: none allowed");
}

#[test]
fn preflight_is_answered_with_envoys_headers() {
    let p = istio();
    let req = headers(&[
        ("origin", "https://a.example"),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "x-custom"),
    ]);
    let Verdict::Preflight(h) = Policies::new(Some(&p), None).decide(&Method::OPTIONS, &req, |_| true) else {
        panic!("a preflight from an allowed origin is answered");
    };
    assert_eq!(
        names(&h),
        [
            "access-control-allow-origin: https://a.example",
            "access-control-allow-credentials: true",
            "access-control-allow-methods: GET,POST",
            "access-control-allow-headers: x-custom,content-type",
            "access-control-max-age: 86400",
            "access-control-expose-headers: x-exposed",
        ]
    );
}

#[test]
fn requests_get_their_verdicts() {
    let p = istio();
    let policies = Policies::new(Some(&p), None);
    let preflight = |origin: &'static str| headers(&[("origin", origin), ("access-control-request-method", "POST")]);
    // Not allowed and forwarded (Istio's default): nothing is added.
    assert_eq!(policies.decide(&Method::OPTIONS, &preflight("https://evil.example"), |_| true), Verdict::Pass);
    // Not allowed and not forwarded: answered without allow-origin.
    let strict = Cors { forward_not_matching_preflights: Some(false), ..istio() };
    let v = Policies::new(Some(&strict), None).decide(&Method::OPTIONS, &preflight("https://evil.example"), |_| true);
    let Verdict::Preflight(h) = v else { panic!("answered locally") };
    assert!(
        !h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) && h.contains_key(header::ACCESS_CONTROL_ALLOW_METHODS)
    );
    // A simple request from an allowed origin: its response gets the echo.
    let simple = headers(&[("origin", "https://a.example")]);
    let Verdict::Respond(echo) = policies.decide(&Method::GET, &simple, |_| true) else { panic!("echo") };
    let mut resp = headers(&[("access-control-allow-origin", "*")]);
    echo.apply(&mut resp);
    assert_eq!(
        names(&resp),
        [
            "access-control-allow-origin: https://a.example",
            "access-control-allow-credentials: true",
            "access-control-expose-headers: x-exposed"
        ]
    );
    // OPTIONS without Access-Control-Request-Method is an ordinary CORS request.
    assert!(matches!(policies.decide(&Method::OPTIONS, &simple, |_| true), Verdict::Respond(_)));
    // No Origin, no policy, or a disabled policy: nothing.
    assert_eq!(policies.decide(&Method::GET, &HeaderMap::new(), |_| true), Verdict::Pass);
    assert_eq!(Policies::new(None, None).decide(&Method::GET, &simple, |_| true), Verdict::Pass);
    assert_eq!(policies.decide(&Method::GET, &simple, |_| false), Verdict::Pass);
}

#[test]
fn route_fields_win_over_the_virtual_hosts() {
    let route = Cors { allow_methods: String::new(), allow_headers: "*".into(), ..istio() };
    let vhost = Cors { allow_methods: "PUT".into(), allow_credentials: Some(false), ..istio() };
    let req = headers(&[
        ("origin", "https://a.example"),
        ("access-control-request-method", "PUT"),
        ("access-control-request-headers", "x-asked"),
    ]);
    let Verdict::Preflight(h) = Policies::new(Some(&route), Some(&vhost)).decide(&Method::OPTIONS, &req, |_| true)
    else {
        panic!("preflight");
    };
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], "PUT", "the vhost fills what the route leaves unset");
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_HEADERS], "x-asked", "`*` echoes the requested headers");
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true", "the route's credentials win");
}
