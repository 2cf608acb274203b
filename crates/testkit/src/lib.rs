//! Helpers shared by Strait's tests: locating Istio's corpus, real upstream servers, child
//! processes that die with the test, waiting for conditions, and network namespaces with
//! istio-iptables capture (`netns`).
//!
//! The main one finds Istio's YAML test corpus (`$STRAIT_ISTIO_CORPUS`, else
//! `../shared/istio-testdata` beside the repository). Where it is absent, tests skip and say so,
//! except under `CI=true`, where a missing corpus is a failure: CI must never pass by skipping.

pub mod grpc;
pub mod netns;
pub mod process;
pub mod recording;
pub mod upstream;
pub mod websocket;

use std::path::{Path, PathBuf};

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap_or_else(|_| PathBuf::from("."))
}

/// Where Istio's test corpus is, if present. Panics under `CI=true` when it is missing.
pub fn istio_corpus() -> Option<PathBuf> {
    let candidates = std::env::var_os("STRAIT_ISTIO_CORPUS")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::iter::once(repo_root().join("../shared/istio-testdata")));
    for c in candidates {
        if c.join("FILES.txt").exists() || c.join("pkg").is_dir() {
            return Some(c);
        }
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !in_ci,
        "Istio test corpus not found (set STRAIT_ISTIO_CORPUS); under CI=true this is a failure, not a skip"
    );
    eprintln!("SKIP: Istio test corpus not found (set STRAIT_ISTIO_CORPUS or place it at ../shared/istio-testdata)");
    None
}

/// Files under `dir` (recursively) whose names end with one of `suffixes`, sorted.
pub fn files_under(dir: &Path, suffixes: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if suffixes.iter().any(|s| p.to_string_lossy().ends_with(s)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
