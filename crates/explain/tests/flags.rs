//! One case per Envoy 1.40 response flag: `strait explain FLAG` must say what the flag means and
//! give at least one concrete check, in the rendered text and in the JSON form; long names,
//! lower case and combinations (`URX,UF`) work too, and unknown flags are refused with a hint.

use strait_explain::{explain, flags, render};

/// (flag, words of its meaning, a check that must be suggested).
const CASES: [(&str, &str, &str); 30] = [
    ("LH", "failed its health check", "strait proxy-config listeners POD.NAMESPACE -o json"),
    ("UH", "no healthy endpoint", "strait proxy-config endpoints POD.NAMESPACE"),
    ("UT", "timeout", "strait proxy-config routes POD.NAMESPACE -o json"),
    ("LR", "reset the stream itself", "strait proxy-config clusters POD.NAMESPACE -o json"),
    ("UR", "upstream reset the stream", "restarts and logs of the upstream pod"),
    ("UF", "Connecting to the upstream failed", "strait proxy-config endpoints POD.NAMESPACE"),
    ("UC", "upstream connection was closed", "keep-alive (idle) timeout"),
    ("UO", "circuit breaker", "circuit_breakers.thresholds"),
    ("NR", "No route matched", "strait proxy-config routes POD.NAMESPACE"),
    ("DI", "fault-injection delay", "envoy.filters.http.fault"),
    ("FI", "fault-injection abort", "envoy.filters.http.fault"),
    ("RL", "rate limit", "local_ratelimit"),
    ("UAEX", "external authorization service", "envoy.filters.http.ext_authz"),
    ("RLSE", "rate-limit service could not be reached", "strait proxy-config clusters POD.NAMESPACE"),
    ("DC", "client closed its connection", "client's timeout"),
    ("URX", "retried", "retry_policy"),
    ("SI", "idle timeout", "stream_idle_timeout"),
    ("IH", "x-envoy-", "x-envoy-* headers"),
    ("DPE", "not valid HTTP", "strait analyze -f DIR"),
    ("UMSDR", "maximum duration", "max_stream_duration"),
    ("RFCF", "cache filter", "envoy.filters.http.cache"),
    ("NFCF", "ECDS", "strait proxy-status"),
    ("DT", "maximum duration", "max_connection_duration"),
    ("UPE", "not valid HTTP for the protocol", "strait analyze -f DIR"),
    ("NC", "cluster the proxy does not have", "strait proxy-config clusters POD.NAMESPACE"),
    ("OM", "overload manager", "/memory"),
    ("DF", "DNS name failed", "dig / nslookup"),
    ("DO", "drop_overloads", "policy.drop_overloads"),
    ("DR", "client reset the stream", "client's deadline"),
    ("UDO", "100%", "policy.drop_overloads"),
];

#[test]
fn every_flag_is_explained_with_a_check() {
    let table: Vec<&str> = flags::all().map(|f| f.short).collect();
    let cases: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    assert_eq!(table, cases, "one case per flag, in Envoy's order");
    for (flag, meaning, check) in CASES {
        let e = explain(flag, None, None).unwrap_or_else(|err| panic!("{flag}: {err}"));
        let text = render::text(&e);
        assert!(text.contains(meaning), "{flag}: meaning {meaning:?} missing:\n{text}");
        assert!(text.contains(check), "{flag}: check {check:?} missing:\n{text}");
        assert!(text.contains("Usual causes"), "{flag}: no causes:\n{text}");
        let json = serde_json::to_value(&e).expect("serializable");
        assert_eq!(json["flags"][0]["short"], flag);
        assert!(
            json["checks"].as_array().is_some_and(|c| c.iter().any(|c| c.as_str().is_some_and(|c| c.contains(check))))
        );
        assert!(!json["causes"].as_array().expect("causes").is_empty(), "{flag}");
    }
}

#[test]
fn long_names_case_and_combinations() {
    let e = explain("NoHealthyUpstream", None, None).expect("long name");
    assert_eq!(e.flags[0].short, "UH");
    let e = explain("urx,uf", None, None).expect("lower case");
    let shorts: Vec<&str> = e.flags.iter().map(|f| f.short).collect();
    assert_eq!(shorts, ["URX", "UF"]);
    let text = render::text(&e);
    assert!(text.contains("retried") && text.contains("Connecting to the upstream failed"), "{text}");
    let e = explain("-", None, None).expect("no flag");
    assert!(e.summary.contains("No response flag"), "{}", e.summary);
}

#[test]
fn unknown_flags_are_refused_with_a_hint() {
    let err = explain("USNR", None, None).expect_err("not an Envoy flag");
    assert!(err.0.contains("unknown response flag `USNR`") && err.0.contains("UDO"), "{err}");
    let err = explain("UHH", None, None).expect_err("a typo");
    assert!(err.0.contains("did you mean UH?"), "{err}");
    let e = explain("UF,XYZ", None, None).expect("one known flag is enough");
    assert_eq!(e.unknown_flags[0].name, "XYZ");
    assert!(render::text(&e).contains("Not an Envoy 1.40 response flag: XYZ"));
}
