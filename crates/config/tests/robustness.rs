//! Property tests: arbitrary bytes, arbitrary JSON/YAML shapes using Istio's field names, and
//! mutations of real documents, fed to the loader and validator. None may panic, and none may
//! take long (a hostile regex or alias bomb must be refused, not evaluated).

use proptest::prelude::*;
use serde_json::{Map, Value};
use std::time::{Duration, Instant};
use strait_config::{LoadOptions, LoadReport, load_text};

const BUDGET: Duration = Duration::from_secs(2);

fn load(text: &str) -> LoadReport {
    let start = Instant::now();
    let mut out = LoadReport::default();
    load_text("fuzz.yaml", text, &LoadOptions::default(), &mut out);
    assert!(start.elapsed() < BUDGET, "loading took {:?} for {:?}", start.elapsed(), &text[..text.len().min(200)]);
    out
}

const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "spec",
    "hosts",
    "gateways",
    "http",
    "tcp",
    "tls",
    "match",
    "route",
    "destination",
    "host",
    "subset",
    "port",
    "number",
    "weight",
    "uri",
    "prefix",
    "exact",
    "regex",
    "headers",
    "timeout",
    "retries",
    "attempts",
    "fault",
    "abort",
    "delay",
    "percentage",
    "value",
    "servers",
    "selector",
    "labels",
    "trafficPolicy",
    "subsets",
    "loadBalancer",
    "simple",
    "mtls",
    "mode",
    "rules",
    "from",
    "source",
    "principals",
    "jwtRules",
    "issuer",
    "egress",
    "ingress",
    "ports",
    "resolution",
    "endpoints",
    "address",
    "items",
    "exportTo",
];
const KINDS: &[&str] = &[
    "VirtualService",
    "DestinationRule",
    "ServiceEntry",
    "Gateway",
    "Sidecar",
    "PeerAuthentication",
    "AuthorizationPolicy",
    "RequestAuthentication",
    "WorkloadEntry",
    "WorkloadGroup",
    "Service",
    "Deployment",
    "Pod",
    "EndpointSlice",
    "List",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        (0u32..70000).prop_map(|n| Value::Number(n.into())),
        "[a-z*./:0-9-]{0,12}".prop_map(Value::String),
        Just(Value::String("(a+)+$".into())),
        Just(Value::String("((a{100}){100}){100}".into())),
        Just(Value::String("5s".into())),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>())),
        ]
    })
}

fn document() -> impl Strategy<Value = Value> {
    (prop::sample::select(KINDS), prop::sample::select(&["networking.istio.io/v1", "security.istio.io/v1", "v1", "apps/v1"][..]), value())
        .prop_map(|(kind, api, spec)| {
            serde_json::json!({"apiVersion": api, "kind": kind, "metadata": {"name": "x"}, "spec": spec, "items": [spec.clone()]})
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        load(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_yamlish_text_never_panics(text in "[a-z:\\-\\[\\]{}&*!|>'\" \n#,?0-9.]{0,400}") {
        load(&text);
    }

    #[test]
    fn arbitrary_documents_never_panic(doc in document()) {
        let out = load(&serde_json::to_string(&doc).expect("serialises"));
        // Whatever happens, every finding names the file.
        prop_assert!(out.findings.iter().all(|f| &*f.file == "fuzz.yaml"));
    }

    #[test]
    fn mutated_real_documents_never_panic(cut in 0usize..600, insert in "[:\\-\\[{ \n*&]{0,3}") {
        let base = include_str!("../../../examples/bookinfo/reviews-routing.yaml");
        let at = base.char_indices().map(|(i, _)| i).nth(cut % base.chars().count()).unwrap_or(0);
        let mutated = format!("{}{}{}", &base[..at], insert, &base[at..]);
        load(&mutated);
    }
}

#[test]
fn hostile_inputs_are_refused_quickly() {
    let deep = format!("a: {}", "[".repeat(50_000));
    assert!(load(&deep).errors() > 0);
    let huge_regex = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [a]\n  http:\n  - match:\n    - uri:\n        regex: \"\\\\pL{1000}\"\n    route:\n    - destination: {host: a}\n";
    let out = load(huge_regex);
    assert!(out.findings.iter().any(|f| f.message.contains("too large")), "{:?}", out.findings);
}
