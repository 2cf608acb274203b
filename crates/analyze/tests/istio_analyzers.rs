//! Conformance: Istio's analyzer test grid (`analyzers_test.go`'s `testGrid`, extracted as
//! `analyzer-expectations.yaml` in the corpus), read in place.
//!
//! Every case whose analyzer Strait runs is set up as Istio's test sets it up (files read
//! without a default namespace, Istio's default ingress gateway Pod and Service added unless
//! the mesh config turns ingress off, the case's mesh config applied), run with only that
//! analyzer, and the produced (code, origin) multiset compared with the expected one. Cases of
//! analyzers Strait does not run, and cases that depend on kinds Strait does not support, are
//! listed as not applicable with the reason. The test prints a table and
//! `N passed / M applicable`, and fails below 80% of the applicable cases.
//!
//! A second test checks Strait's copy of Istio's message catalogue against
//! `analyzer-messages.yaml`.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use strait_analyze::analyzers::{self, NOT_APPLICABLE};
use strait_analyze::codes::istio;
use strait_analyze::{Input, LoadOptions, Options};

/// Cases whose inputs depend on kinds Strait does not support: (case name, why).
const CASE_NOT_APPLICABLE: &[(&str, &str)] = &[(
    "virtualServiceKubernetesGateways",
    "the VirtualServices bind to a Gateway API Gateway, a kind Strait does not support",
)];

struct Case {
    name: String,
    analyzer: String,
    inputs: Vec<String>,
    expected: Vec<(String, String)>,
    mesh_config: Option<String>,
}

fn yaml_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut docs = strait_config::yaml::parse_stream(&text);
    assert_eq!(docs.len(), 1, "{} holds one document", path.display());
    docs.remove(0).unwrap_or_else(|e| panic!("{}: {e:?}", path.display())).value
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn cases(corpus: &Path) -> Vec<Case> {
    let doc = yaml_file(&corpus.join("analyzer-expectations.yaml"));
    let list = doc["cases"].as_array().expect("cases is a list");
    list.iter()
        .map(|c| Case {
            name: str_of(c, "name"),
            analyzer: str_of(c, "analyzer"),
            inputs: c["inputFiles"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            expected: c["expected"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| (str_of(e, "code"), str_of(e, "origin")))
                .collect(),
            mesh_config: c.get("meshConfigFile").and_then(Value::as_str).map(String::from),
        })
        .collect()
}

/// Runs one case; the produced (code, origin) pairs, sorted.
fn run(dir: &Path, case: &Case) -> Vec<(String, String)> {
    let opts = LoadOptions { default_namespace: None };
    let mut input = Input::default();
    for f in &case.inputs {
        let text = std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        strait_analyze::input::load_text(f, &text, &opts, &mut input);
    }
    if let Some(mesh) = &case.mesh_config {
        let mut report = strait_config::LoadReport::default();
        let path = dir.join(mesh).display().to_string();
        input.mesh = strait_config::mesh::load_mesh_file(&path, &mut report);
        assert!(input.mesh.is_some(), "{mesh}: {:?}", report.findings);
    }
    input.dedupe();
    input.add_default_ingress();
    let analyzer = analyzers::by_name(&case.analyzer).expect("an analyzer Strait runs");
    let options = Options { strait_workloads: false };
    let mut got: Vec<(String, String)> = strait_analyze::analyze_with(&input, &options, &[analyzer])
        .iter()
        .map(|m| (m.kind.code.to_string(), m.origin_name().unwrap_or_default()))
        .collect();
    got.sort();
    got
}

fn summary(list: &[(String, String)]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (code, _) in list {
        *counts.entry(code).or_default() += 1;
    }
    let parts: Vec<String> =
        counts.iter().map(|(c, n)| if *n == 1 { c.to_string() } else { format!("{c}x{n}") }).collect();
    if parts.is_empty() { "-".into() } else { parts.join(" ") }
}

#[test]
fn istio_analyzer_test_grid() {
    let Some(corpus) = strait_testkit::istio_corpus() else { return };
    let dir = corpus.join("pkg/config/analysis/analyzers");
    let cases = cases(&corpus);
    assert!(cases.len() > 100, "the grid has {} cases", cases.len());
    let (mut passed, mut applicable) = (0, 0);
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for case in &cases {
        let label = format!("{} ({})", case.name, case.inputs.join(", "));
        let na = NOT_APPLICABLE
            .iter()
            .find(|n| n.name == case.analyzer)
            .map(|n| n.why)
            .or_else(|| CASE_NOT_APPLICABLE.iter().find(|(name, _)| *name == case.name).map(|(_, why)| *why));
        if let Some(why) = na {
            rows.push(format!("| {label} | {} | {} | - | n/a: {why} |", case.analyzer, summary(&case.expected)));
            continue;
        }
        applicable += 1;
        let mut expected = case.expected.clone();
        expected.sort();
        let got = run(&dir, case);
        let ok = got == expected;
        passed += usize::from(ok);
        rows.push(format!(
            "| {label} | {} | {} | {} | {} |",
            case.analyzer,
            summary(&expected),
            summary(&got),
            if ok { "pass" } else { "FAIL" }
        ));
        if !ok {
            failures.push(format!("{label}:\n  expected {expected:?}\n  got      {got:?}"));
        }
    }
    println!("| case | analyzer | expected | got | pass |\n|---|---|---|---|---|");
    for r in &rows {
        println!("{r}");
    }
    println!("\nNot applicable to Strait:");
    for n in NOT_APPLICABLE {
        println!("- {}: {}", n.name, n.why);
    }
    for f in &failures {
        println!("\n{f}");
    }
    println!("\n{passed} passed / {applicable} applicable ({} cases in the grid)", cases.len());
    assert!(applicable > 0);
    assert!(passed * 100 >= applicable * 80, "{passed} passed / {applicable} applicable is below 80%");
}

#[test]
fn message_catalogue_matches_istio() {
    let Some(corpus) = strait_testkit::istio_corpus() else { return };
    let doc = yaml_file(&corpus.join("analyzer-messages.yaml"));
    let messages = doc["messages"].as_array().expect("messages is a list");
    assert_eq!(messages.len(), istio::ALL.len(), "every Istio message type is in the catalogue");
    for m in messages {
        let code = str_of(m, "code");
        let t = strait_analyze::codes::by_code(&code).unwrap_or_else(|| panic!("{code} missing"));
        assert_eq!(t.name, str_of(m, "name"), "{code}");
        assert_eq!(t.level.to_string(), str_of(m, "level"), "{code}");
        assert_eq!(t.template, str_of(m, "template"), "{code}");
    }
}
