//! External conformance: Istio's own validation corpus.
//!
//! Every document in `pkg/config/validation/testdata/crds/` and
//! `pkg/test/datasets/validation/dataset/` is loaded. Valid documents must load without errors;
//! invalid ones (`*-invalid.yaml`, carrying the expected error in `_err`) must be rejected with
//! an error containing that text, or a wording listed in [`EQUIVALENT`]. Kinds Strait does not
//! act on (EnvoyFilter, Telemetry, WasmPlugin, ProxyConfig, …) must be reported "not supported"
//! and are tallied apart. The test prints `N passed, M failed` and fails below 100% for
//! supported kinds.
//!
//! A second test loads Bookinfo, `tests/testdata/config` and `tests/testdata/networking`:
//! everything must load, or be reported "not supported".

use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use strait_config::decode::{Origin, decode_document};
use strait_config::{LoadOptions, LoadReport, yaml};
use strait_model::{FieldPath, Severity};

/// Where our wording differs from Istio's `_err` text: (Istio's text, ours, why).
/// One reason per row; the test accepts either wording for that case.
const EQUIVALENT: &[(&str, &str, &str)] = &[];

struct Tally {
    passed: usize,
    failed: Vec<String>,
    not_supported: usize,
}

fn decode_one(value: &Value, file: &Arc<str>, positions: &strait_config::positions::Positions) -> LoadReport {
    let mut report = LoadReport::default();
    let origin = Origin { file, positions, default_namespace: "default" };
    decode_document(value, &FieldPath::root(), &origin, &mut report);
    report
}

fn rendered(report: &LoadReport) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| match &f.field {
            Some(field) => format!("{field}: {}", f.message),
            None => f.message.clone(),
        })
        .collect()
}

fn matches_expected(errors: &[String], expected: &str) -> bool {
    errors.iter().any(|e| {
        e.contains(expected) || EQUIVALENT.iter().any(|(istio, ours, _)| *istio == expected && e.contains(ours))
    })
}

fn check_file(path: &Path, invalid_file: bool, tally: &mut Tally) {
    let text = std::fs::read_to_string(path).expect("corpus file is readable");
    let file: Arc<str> = Arc::from(path.display().to_string());
    for (i, doc) in yaml::parse_stream(&text).into_iter().enumerate() {
        let doc = doc.unwrap_or_else(|e| panic!("{file}: document {i} does not parse: {e:?}"));
        let mut value = doc.value;
        let expected =
            value.as_object_mut().and_then(|m| m.remove("_err")).and_then(|v| v.as_str().map(str::to_string));
        let report = decode_one(&value, &file, &doc.positions);
        let name = format!(
            "{}#{i} {}",
            path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default(),
            value["metadata"]["name"]
        );
        if report.not_supported > 0 {
            tally.not_supported += 1;
            continue;
        }
        let errors = rendered(&report);
        for loaded in &report.resources {
            round_trip(&loaded.resource).unwrap_or_else(|e| tally.failed.push(format!("{name}: {e}")));
        }
        let verdict = match (invalid_file || expected.is_some(), &expected) {
            (false, _) if errors.is_empty() => Ok(()),
            (false, _) => Err(format!("valid document rejected: {errors:?}")),
            (true, Some(exp)) if matches_expected(&errors, exp) => Ok(()),
            (true, Some(exp)) => Err(format!("expected an error containing {exp:?}, got {errors:?}")),
            (true, None) if !errors.is_empty() => Ok(()),
            (true, None) => Err("invalid document accepted".to_string()),
        };
        match verdict {
            Ok(()) => tally.passed += 1,
            Err(why) => tally.failed.push(format!("{name}: {why}")),
        }
    }
}

/// Serialising a decoded resource and decoding it again gives the same resource: no field is
/// lost or renamed on the way (later layers print and diff these values).
fn round_trip(r: &strait_model::Resource) -> Result<(), String> {
    let Some(kind) = r.kind() else { return Ok(()) };
    let first = r.to_json();
    let again =
        strait_model::Resource::decode(kind, &first).map_err(|e| format!("does not decode after serialising: {e}"))?;
    if again.to_json() == first { Ok(()) } else { Err(format!("round trip changed the resource: {first}")) }
}

#[test]
fn istio_validation_corpus() {
    let Some(corpus) = strait_testkit::istio_corpus() else { return };
    let mut tally = Tally { passed: 0, failed: Vec::new(), not_supported: 0 };
    let crds = corpus.join("pkg/config/validation/testdata/crds");
    let dataset = corpus.join("pkg/test/datasets/validation/dataset");
    for path in strait_testkit::files_under(&crds, &[".yaml"]) {
        let invalid = path.to_string_lossy().ends_with("-invalid.yaml");
        check_file(&path, invalid, &mut tally);
    }
    for path in strait_testkit::files_under(&dataset, &[".yaml"]) {
        check_file(&path, false, &mut tally);
    }
    for f in &tally.failed {
        eprintln!("FAIL {f}");
    }
    let total = tally.passed + tally.failed.len();
    println!(
        "Istio validation corpus (supported kinds): {} passed, {} failed ({:.1}%); {} documents of kinds Strait does not act on were reported \"not supported\"",
        tally.passed,
        tally.failed.len(),
        100.0 * tally.passed as f64 / total.max(1) as f64,
        tally.not_supported
    );
    assert!(total > 60, "expected the corpus to hold more documents, found {total}");
    assert!(tally.failed.is_empty(), "{} corpus documents failed (see FAIL lines)", tally.failed.len());
}

#[test]
fn analyzer_mesh_configs_load() {
    let Some(corpus) = strait_testkit::istio_corpus() else { return };
    let path = corpus.join("pkg/config/analysis/analyzers/testdata/common/meshconfig.yaml");
    let mut report = LoadReport::default();
    let mesh = strait_config::mesh::load_mesh_file(&path.display().to_string(), &mut report);
    assert!(mesh.is_some() && report.errors() == 0, "{:?}", report.findings);
}

#[test]
fn bookinfo_and_istio_test_configs_load() {
    let Some(corpus) = strait_testkit::istio_corpus() else { return };
    let dirs = ["samples/bookinfo", "samples/multicluster", "tests/testdata/config", "tests/testdata/networking"];
    let paths: Vec<String> = dirs.iter().map(|d| corpus.join(d).display().to_string()).collect();
    let report = strait_config::load_paths(&paths, &LoadOptions::default());
    let errors: Vec<String> =
        report.findings.iter().filter(|f| f.severity == Severity::Error).map(|f| f.to_string()).collect();
    for f in report.findings.iter().filter(|f| f.severity == Severity::Warning) {
        println!("warning: {f}");
    }
    println!(
        "{} files, {} documents: {} loaded, {} not supported, {} errors",
        report.files,
        report.documents,
        report.resources.len(),
        report.not_supported,
        errors.len()
    );
    assert!(errors.is_empty(), "errors loading Istio's sample configs:\n{}", errors.join("\n"));
    for loaded in &report.resources {
        round_trip(&loaded.resource).unwrap_or_else(|e| panic!("{}: {e}", loaded.file));
    }
    assert!(report.resources.len() > 100, "only {} resources loaded", report.resources.len());
}
