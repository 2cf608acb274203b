//! Shared helpers for the registry's integration tests: load YAML text (or files) with the real
//! loader, failing on any error, and build the registry from it.

#![allow(dead_code)]

use strait_config::{LoadOptions, LoadReport, load_paths, load_text};
use strait_model::Resource;
use strait_registry::{Registry, Service};

fn resources(report: LoadReport) -> Vec<Resource> {
    let errors: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert_eq!(report.errors(), 0, "load errors:\n{}", errors.join("\n"));
    report.resources.into_iter().map(|l| l.resource).collect()
}

/// Loads YAML text as if from a file named `fixture.yaml`.
pub fn load(yaml: &str) -> Vec<Resource> {
    let mut report = LoadReport::default();
    load_text("fixture.yaml", yaml, &LoadOptions::default(), &mut report);
    resources(report)
}

/// Loads files or directories.
pub fn load_files(paths: &[String]) -> Vec<Resource> {
    resources(load_paths(paths, &LoadOptions::default()))
}

/// Builds the registry from YAML text.
pub fn registry(yaml: &str) -> Registry {
    strait_registry::build::build(&load(yaml))
}

/// The service with this hostname (panics when missing).
pub fn service<'a>(reg: &'a Registry, host: &str) -> &'a Service {
    let names: Vec<&str> = reg.services.iter().map(|s| s.hostname.as_str()).collect();
    reg.services.iter().find(|s| s.hostname == host).unwrap_or_else(|| panic!("no service {host} in {names:?}"))
}
