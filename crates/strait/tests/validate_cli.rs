//! End-to-end tests of `strait validate`: the real binary on real files.

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

#[test]
fn three_errors_are_all_reported_with_file_and_line() {
    let out = strait(&["validate", "-f", "examples/broken/three-errors.yaml"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 3, "{text}");
    let prefix = "error: examples/broken/three-errors.yaml:";
    let want = [
        ("13:3: VirtualService bookinfo/reviews: spec.gatways:", "did you mean \"gateways\""),
        ("20:7: VirtualService bookinfo/reviews: spec.http[0].route[0].weight:", ""),
        ("25:5: VirtualService bookinfo/reviews: spec.http[0].timeout:", "soon"),
    ];
    for (loc, msg) in want {
        assert!(
            errors.iter().any(|e| e.starts_with(&format!("{prefix}{loc}")) && e.contains(msg)),
            "missing {loc} … {msg} in:\n{text}"
        );
    }
    assert!(text.lines().last().is_some_and(|l| l.starts_with("FAILED: 3 errors")), "{text}");
}

#[test]
fn valid_directory_exits_zero() {
    let out = strait(&["validate", "-f", "examples/bookinfo"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.lines().last().is_some_and(|l| l.starts_with("OK: 0 errors")), "{text}");
    assert!(!text.contains("error:"), "{text}");
}

#[test]
fn json_output_has_the_same_records() {
    let out = strait(&["validate", "-o", "json", "-f", "examples/broken/three-errors.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let issues = doc["issues"].as_array().expect("issues array");
    assert_eq!(issues.len(), 3);
    assert_eq!(issues[0]["file"], "examples/broken/three-errors.yaml");
    assert_eq!(issues[0]["line"], 13);
    assert_eq!(issues[0]["kind"], "VirtualService");
    assert_eq!(issues[0]["namespace"], "bookinfo");
    assert_eq!(issues[0]["field"], "spec.gatways");
    assert_eq!(doc["summary"]["errors"], 3);
}

#[test]
fn stdin_and_missing_files() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strait"))
        .args(["validate", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports: [{port: 70000}]\n")
            .expect("writes");
    }
    let out = child.wait_with_output().expect("finishes");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("error: <stdin>:5:12: Service default/a: spec.ports[0].port: port must be between 1-65535"),
        "{text}"
    );

    let out = strait(&["validate", "-f", "does/not/exist.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("error: does/not/exist.yaml: cannot read"), "{}", stdout(&out));
}
