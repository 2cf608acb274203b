//! End-to-end tests of `strait analyze`: the real binary on fixture directories, checking the
//! `istioctl analyze` output format, the JSON/YAML forms, thresholds and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn strait(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strait"))
        .args(args)
        .current_dir(strait_testkit::repo_root())
        .output()
        .expect("strait runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh directory holding test files, removed when dropped.
struct Fixture(PathBuf);

impl std::ops::Deref for Fixture {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh directory holding `files` (name, content).
fn fixture(test: &str, files: &[(&str, &str)]) -> Fixture {
    let dir = std::env::temp_dir().join(format!("strait-analyze-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("fixture written");
    }
    Fixture(dir)
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: reviews, version: v1}}
  template:
    metadata: {labels: {app: reviews, version: v1}}
    spec:
      containers:
      - {name: reviews, image: example/reviews, ports: [{containerPort: 9080}]}
";

/// Line 10 holds the bogus host.
const BROKEN_VS: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: bookinfo
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews-bogus}
";

const GOOD_VS: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
";

/// A subset no route uses: a warning (STR0003), no error.
const UNUSED_SUBSET: &str = "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  subsets:
  - name: v1
    labels: {version: v1}
";

const ENVOY_FILTER: &str = "apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: lua, namespace: bookinfo}
spec: {configPatches: []}
";

#[test]
fn errors_print_like_istioctl_and_exit_non_zero() {
    let dir = fixture("errors", &[("svc.yaml", SERVICE), ("vs.yaml", BROKEN_VS), ("ef.yaml", ENVOY_FILTER)]);
    let out = strait(&["analyze", "-f", &path(&dir)]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    let want = format!(
        "Error [IST0101] (VirtualService bookinfo/reviews {}:10) Referenced host not found: \"reviews-bogus\"",
        dir.join("vs.yaml").display()
    );
    assert!(text.lines().any(|l| l == want), "missing\n{want}\nin\n{text}");
    for line in text.lines() {
        let ok = ["Error [", "Warning [", "Info ["].iter().any(|p| line.starts_with(p));
        assert!(ok, "every line is a message: {line}");
    }
    // The EnvoyFilter is not analyzed, and does not make the command fail on its own.
    assert!(
        stderr(&out).contains("Not analyzed: 1 document(s) of kinds Strait does not act on (EnvoyFilter)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn clean_config_exits_zero_with_istioctls_notice() {
    let dir = fixture("clean", &[("svc.yaml", SERVICE), ("vs.yaml", GOOD_VS)]);
    let out = strait(&["analyze", "-f", &path(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out).trim(), "", "no messages");
    assert!(stderr(&out).contains("\u{2714} No validation issues found when analyzing"), "{}", stderr(&out));
}

#[test]
fn warnings_pass_unless_the_failure_threshold_says_otherwise() {
    let dir = fixture("warnings", &[("svc.yaml", SERVICE), ("vs.yaml", GOOD_VS), ("dr.yaml", UNUSED_SUBSET)]);
    let out = strait(&["analyze", "-f", &path(&dir)]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Warning [STR0003] (DestinationRule bookinfo/reviews "), "{text}");
    assert!(text.contains("Fix: route to it"), "{text}");
    let out = strait(&["analyze", "--failure-threshold", "Warning", "-f", &path(&dir)]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let out = strait(&["analyze", "--output-threshold", "Error", "-f", &path(&dir)]);
    assert_eq!(stdout(&out).trim(), "", "warnings are hidden below the output threshold");
    let out = strait(&["analyze", "-S", "STR0003=DestinationRule bookinfo/*", "-f", &path(&dir)]);
    assert!(!stdout(&out).contains("STR0003"), "suppressed: {}", stdout(&out));
}

#[test]
fn json_and_yaml_carry_istios_fields() {
    let dir = fixture("json", &[("svc.yaml", SERVICE), ("vs.yaml", BROKEN_VS)]);
    let out = strait(&["analyze", "-o", "json", "-f", &path(&dir)]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON output");
    let m = doc.as_array().and_then(|a| a.iter().find(|m| m["code"] == "IST0101")).expect("IST0101 in the list");
    assert_eq!(m["level"], "Error");
    assert_eq!(m["origin"], "VirtualService bookinfo/reviews");
    assert_eq!(m["reference"], format!("{}:10", dir.join("vs.yaml").display()));
    assert_eq!(m["message"], "Referenced host not found: \"reviews-bogus\"");
    assert_eq!(
        m["documentationUrl"],
        "https://istio.io/latest/docs/reference/config/analysis/ist0101/?ref=istioctl-analyze"
    );
    let out = strait(&["analyze", "-o", "yaml", "-f", &path(&dir)]);
    let text = stdout(&out);
    assert!(text.starts_with("- code: "), "{text}");
    assert!(text.contains("  origin: VirtualService bookinfo/reviews\n"), "{text}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn runtime_facts_reveal_apps_listening_on_localhost() {
    let dir = strait_testkit::repo_root().join("crates/analyze/tests/pitfalls");
    let file = path(&dir.join("app-listeners.yaml"));
    let facts = path(&dir.join("app-listeners.facts"));
    let out = strait(&["analyze", "-f", &file, "--runtime", &facts]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("Error [STR0009] (Deployment bookinfo/reviews-v1 "), "{text}");
    let without = stdout(&strait(&["analyze", "-f", &file]));
    assert!(!without.contains("STR0009"), "no facts, no runtime findings: {without}");
}

#[test]
fn usage_and_parse_errors() {
    let out = strait(&["analyze"]);
    assert_eq!(out.status.code(), Some(2), "-f is required");
    let dir = fixture("syntax", &[("bad.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: [\n")]);
    let out = strait(&["analyze", "-f", &path(&dir)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("bad.yaml:"), "{}", stderr(&out));
    let out = strait(&["analyze", "-L"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("virtualservice.DestinationHostAnalyzer") && text.contains("strait.PortProtocols"), "{text}");
    assert!(text.contains("envoyfilter.EnvoyPatchAnalyzer: EnvoyFilter is not supported by Strait"), "{text}");
}
