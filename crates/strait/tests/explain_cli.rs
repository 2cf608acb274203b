//! End-to-end tests of `strait explain`: the real binary on flags, real access-log lines, a
//! reply body, stdin, the mesh config (`-f`) and JSON output; errors exit 1 with a message.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

fn strait(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strait"))
        .args(args)
        .current_dir(strait_testkit::repo_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("strait runs");
    let mut pipe = child.stdin.take().expect("stdin");
    pipe.write_all(stdin.unwrap_or_default().as_bytes()).expect("stdin written");
    drop(pipe);
    child.wait_with_output().expect("strait exits")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

const FIXTURES: &str = "crates/explain/tests/fixtures";

/// The seeds' TLS conflict: 503 UC after a DestinationRule disabled TLS in a STRICT namespace.
const UC_LINE: &str = r#"[2026-11-23T10:00:06.000Z] "GET /reviews/0 HTTP/1.1" 503 UC upstream_reset_before_response_started{connection_termination} - "-" 0 95 1 - "-" "python-requests/2.31" "c3d4" "reviews:9080" "10.0.0.21:9080" outbound|9080||reviews.bookinfo.svc.cluster.local 10.0.0.10:40000 10.96.0.11:9080 10.0.0.10:51320 - default"#;

#[test]
fn a_flag_is_explained_with_checks() {
    let out = strait(&["explain", "URX,UF"], None);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}{}", text(&out.stderr));
    assert!(s.starts_with("Response flags: URX,UF"), "{s}");
    assert!(s.contains("UpstreamRetryLimitExceeded") && s.contains("UpstreamConnectionFailure"), "{s}");
    assert!(s.contains("Usual causes") && s.contains("What to check"), "{s}");
    assert!(s.contains("strait proxy-config endpoints POD.NAMESPACE"), "{s}");
}

#[test]
fn a_line_is_ranked_against_the_mesh_config() {
    let (base, case) = (format!("{FIXTURES}/bookinfo"), format!("{FIXTURES}/tls-conflict"));
    let out = strait(&["explain", "-f", &base, "-f", &case, UC_LINE], None);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}{}", text(&out.stderr));
    assert!(s.starts_with("503 UC · outbound|9080||reviews.bookinfo.svc.cluster.local"), "{s}");
    assert!(s.contains("The proxy of productpage-v1-1.bookinfo handled GET /reviews/0"), "{s}");
    let causes = s.split("Likely causes, ranked against the config").nth(1).expect("ranked causes");
    assert!(
        causes.trim_start().starts_with("1. [confirmed] DestinationRule bookinfo/reviews sets tls.mode DISABLE"),
        "{s}"
    );
    assert!(s.contains("strait proxy-config clusters productpage-v1-1.bookinfo -o json"), "{s}");
    assert!(s.contains(&format!("strait analyze -f {base} -f {case}")), "{s}");
    // Without the config the same line is only "likely".
    let out = strait(&["explain", UC_LINE], None);
    let s = text(&out.stdout);
    assert!(s.contains("1. [likely] A keep-alive race"), "{s}");
    assert!(s.contains("-f DIR"), "{s}");
}

#[test]
fn json_output_and_stdin_lines() {
    let json_line = r#"{"authority":"ratings:9080","bytes_received":0,"bytes_sent":18,"duration":0,"method":"GET","path":"/","protocol":"HTTP/1.1","response_code":503,"response_code_details":"fault_filter_abort","response_flags":"FI","upstream_cluster":"outbound|9080||ratings.default.svc.cluster.local"}"#;
    let stdin = format!("{UC_LINE}\n\n{json_line}\n");
    let out = strait(&["explain", "-o", "json", "-"], Some(&stdin));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let all = v.as_array().expect("one explanation per line");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["line"]["upstream_cluster"], "outbound|9080||reviews.bookinfo.svc.cluster.local");
    assert_eq!(all[0]["flags"][0]["long"], "UpstreamConnectionTermination");
    assert_eq!(all[0]["destination"]["subset"], serde_json::Value::Null);
    assert_eq!(all[1]["line"]["format"], "istio-json");
    assert_eq!(all[1]["causes"][0]["id"], "fault-injection");
    assert!(all[1]["checks"].as_array().is_some_and(|c| !c.is_empty()));
    // One line on stdin: one object.
    let out = strait(&["explain", "-o", "json", "-"], Some("no healthy upstream\n"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!((v["input"].as_str(), v["flags"][0]["short"].as_str()), (Some("reply-body"), Some("UH")));
}

#[test]
fn what_cannot_be_explained_exits_one() {
    let out = strait(&["explain", "USNR"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("unknown response flag `USNR`") && err.contains("UDO"), "{err}");
    let out = strait(&["explain", "this is not a log line"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not an Envoy access-log line"), "{}", text(&out.stderr));
    let out = strait(&["explain", "-f", "no/such/dir", "UH"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let out = strait(&["explain", "-f", "-", "-"], None);
    assert_eq!(out.status.code(), Some(2), "stdin cannot be both");
}
