//! `strait demo` end to end: the real binary starts the built-in mesh (embedded control plane,
//! one sidecar per pod, the demo apps), applies the default scenario, drives traffic for the
//! given duration and prints a summary computed from the sidecars' access logs. The summary
//! must show traffic to every service and no failure the scenario does not explain.
//! Loopback only: pods on 127.10.0.0/16, the control plane on 127.10.0.2; the netns case
//! (root) runs in network namespaces the demo creates and removes.

mod common;

use common::*;

/// `SERVICE VERSION REQUESTS …` rows of the summary table: (service, version, requests).
fn table(summary: &str) -> Vec<(String, String, u64)> {
    let start = summary.lines().position(|l| l.starts_with("SERVICE")).expect("summary table");
    summary
        .lines()
        .skip(start + 1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols[0].to_string(), cols[1].to_string(), cols[2].parse().unwrap_or(0))
        })
        .collect()
}

/// The demos share fixed loopback addresses: one at a time within this binary.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn demo(data_plane: &str, scenario: &str, duration: &str) -> (bool, String, std::path::PathBuf) {
    demo_with(data_plane, scenario, duration, "none")
}

fn demo_with(data_plane: &str, scenario: &str, duration: &str, isolation: &str) -> (bool, String, std::path::PathBuf) {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = std::env::temp_dir().join(format!("strait-demo-e2e-{data_plane}-{scenario}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(bin())
        .args(["demo", "--duration", duration, "--scenario", scenario, "--data-plane", data_plane])
        .args(["--isolation", isolation])
        .args(["--xds-address", "127.10.0.2:15010", "--debug-address", "127.10.0.2:15014"])
        .arg("--dir")
        .arg(&dir)
        .output()
        .expect("strait demo runs");
    let text =
        format!("{}\n--- stderr ---\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text, dir)
}

fn check_summary(ok: bool, text: &str) -> Vec<(String, String, u64)> {
    assert!(ok, "strait demo failed:\n{text}");
    assert!(text.contains("unexpected errors: 0"), "unexpected errors:\n{text}");
    assert!(text.contains("services without traffic: none"), "{text}");
    let rows = table(text);
    for service in ["productpage", "details", "reviews", "ratings"] {
        let n: u64 = rows.iter().filter(|r| r.0 == service).map(|r| r.2).sum();
        assert!(n > 0, "no traffic to {service} in the summary:\n{text}");
    }
    rows
}

#[test]
fn demo_summary_shows_every_service_without_unexpected_errors() {
    let (ok, text, dir) = demo("strait", "routing", "20s");
    let rows = check_summary(ok, &text);
    // Routing: every third request is jason's (reviews v2), the rest go to v1, v3 gets none;
    // at 20 requests/s for 20 s that is about 400 requests to productpage.
    let count = |s: &str, v: &str| rows.iter().find(|r| r.0 == s && r.1 == v).map_or(0, |r| r.2);
    let (pp, v1, v2) = (count("productpage", "v1"), count("reviews", "v1"), count("reviews", "v2"));
    assert!(pp >= 300, "about 400 requests in 20 s, got {pp}:\n{text}");
    assert_eq!(count("reviews", "v3"), 0, "{text}");
    assert_eq!(v1 + v2, pp, "each page calls reviews once:\n{text}");
    assert!(v2 * 3 >= pp - 2 && v2 * 3 <= pp + 3, "a third of the pages are jason's: {v2} of {pp}\n{text}");
    assert!(text.contains("client: ") && text.contains(" 0 failed"), "{text}");
    assert!(text.contains("sample access-log lines") && text.contains("inbound|9080||"), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn demo_fault_scenario_reports_fi_as_expected() {
    let (ok, text, dir) = demo("strait", "fault", "6s");
    let rows = check_summary(ok, &text);
    let fi_line = text.lines().find(|l| l.contains("FI:")).unwrap_or_default();
    assert!(fi_line.starts_with("ratings"), "the FI failures count against ratings:\n{text}");
    assert!(rows.iter().any(|r| r.0 == "ratings" && r.2 > 0), "{text}");
    assert!(text.contains(" 500 FI fault_filter_abort "), "a sample line shows the abort:\n{text}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn demo_with_envoy_sidecars() {
    if process::envoy().is_none() {
        return;
    }
    let (ok, text, dir) = demo("envoy", "egress", "8s");
    check_summary(ok, &text);
    assert!(text.contains("BlackHoleCluster"), "REGISTRY_ONLY shows BlackHoleCluster:\n{text}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn demo_in_network_namespaces() {
    if let Err(e) = strait_testkit::netns::check_available() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "--isolation netns under CI=true: {e}");
        eprintln!("SKIP: --isolation netns: {e}");
        return;
    }
    let (ok, text, dir) = demo_with("strait", "egress", "6s", "netns");
    let rows = check_summary(ok, &text);
    // Under capture the refused connection is plain TCP to the original destination: it still
    // counts against books-api, as an expected BlackHoleCluster failure.
    let api = rows.iter().find(|r| r.0 == "books-api").map_or(0, |r| r.2);
    assert!(api > 0 && text.contains("BlackHoleCluster") && text.contains("UH:"), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}
