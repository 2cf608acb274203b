//! Sidecar egress listeners (Istio `ValidateSidecar`, egress part, and
//! `validateSidecarEgressPortBindAndCaptureMode`): at most one catch-all listener without a
//! port, and it comes last; port 0 means a Unix socket bind captured with `DEFAULT`/`NONE`;
//! unique ports and sockets; and `namespace/dnsName` hosts, with Istio's warnings for
//! duplicated or shadowed hosts.

use super::{CaptureMode, IstioEgressListener, SidecarPort, ingress::port_fields};
use crate::networking::listener::{self, UNIX_PREFIX};
use crate::validation::Validator;
use std::collections::{BTreeMap, BTreeSet};

/// Ports and Unix sockets already used by earlier listeners.
#[derive(Default)]
struct Seen {
    ports: BTreeSet<u32>,
    sockets: BTreeSet<String>,
    catch_all: usize,
}

/// Validates every egress listener under `egress[i]`.
pub(super) fn validate(v: &mut Validator<'_>, listeners: &[IstioEgressListener]) {
    let mut seen = Seen::default();
    let last = listeners.len().saturating_sub(1);
    let mut index = 0;
    v.each("egress", listeners, |v, l| {
        match &l.port {
            None => catch_all(v, l, index == last, &mut seen),
            Some(port) => with_port(v, l, port, &mut seen),
        }
        hosts(v, &l.hosts);
        index += 1;
    });
}

/// A listener without a port captures everything else, so there is one at most and it is last.
fn catch_all(v: &mut Validator<'_>, l: &IstioEgressListener, is_last: bool, seen: &mut Seen) {
    seen.catch_all += 1;
    if seen.catch_all > 1 {
        v.error("sidecar: egress can have only one listener with empty port");
    }
    if !is_last {
        v.error("sidecar: the egress listener with empty port should be the last listener in the list");
    }
    if l.bind.as_deref().is_some_and(|b| !b.is_empty()) {
        v.field("bind", |v| v.warn("bind is ignored on an egress listener without a port: set the port as well"));
    }
}

fn with_port(v: &mut Validator<'_>, l: &IstioEgressListener, port: &SidecarPort, seen: &mut Seen) {
    let bind = l.bind.as_deref().unwrap_or("");
    v.field("port", |v| port_fields(v, port, "Sidecars"));
    if port.number() == 0 {
        // Port 0: a Unix domain socket listener.
        match bind.strip_prefix(UNIX_PREFIX) {
            None => v.error_at("bind", "sidecar: ports with 0 value must have a unix domain socket bind address"),
            Some(path) => {
                if let Err(e) = listener::check_unix_address(path) {
                    v.error_at("bind", e);
                }
                if !seen.sockets.insert(bind.to_string()) {
                    v.error_at("bind", "sidecar: unix domain socket values for listeners must be unique");
                }
            }
        }
        if !matches!(l.capture_mode.unwrap_or_default(), CaptureMode::Default | CaptureMode::None) {
            v.error_at("captureMode", "sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners");
        }
        return;
    }
    v.field("port", |v| {
        v.field("number", |v| {
            listener::port_number(v, i64::from(port.number()));
            if !seen.ports.insert(port.number()) {
                v.error("sidecar: ports on IP bound listeners must be unique");
            }
        })
    });
    if !bind.is_empty()
        && let Err(e) = listener::check_ip_address(bind)
    {
        v.error_at("bind", e);
    }
}

/// Host syntax, and Istio's warnings for hosts another entry already imports (`ns/*` then
/// `ns/a.com`, or anything next to `*/*`). Exclusions (`~ns/...`) take no part in this.
fn hosts(v: &mut Validator<'_>, hosts: &[String]) {
    if hosts.is_empty() {
        v.error_at("hosts", "sidecar: egress listener must contain at least one host");
        return;
    }
    let own_ns = v.ctx.namespace.clone();
    let mut by_ns: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    v.each("hosts", hosts, |v, host| {
        if let Some((ns, name)) = host.split_once('/')
            && !ns.starts_with('~')
        {
            let ns = if ns == "." { own_ns.clone() } else { ns.to_string() };
            let names = by_ns.entry(ns).or_default();
            let duplicate = if name == "*" { !names.is_empty() } else { names.contains(name) || names.contains("*") };
            if duplicate {
                v.warn(format!("duplicated egress host: {host}"));
            }
            names.insert(name.to_string());
        }
        listener::namespace_host(v, host, false);
    });
    if by_ns.get("*").is_some_and(|n| n.contains("*")) && by_ns.len() != 1 {
        v.field("hosts", |v| v.warn("`*/*` host select all resources, no other hosts can be added"));
    }
}

#[cfg(test)]
mod tests {
    use crate::networking::sidecar::Sidecar;
    use crate::validation::validate_spec;
    use serde_json::json;

    fn issues(doc: serde_json::Value) -> String {
        let sc: Sidecar = serde_json::from_value(doc).expect("decodes");
        validate_spec(&sc, "bar").iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn unix_sockets() {
        let uds = json!({"port": {"number": 0, "protocol": "http", "name": "uds"}, "hosts": ["ns1/bar.com"],
            "bind": "unix:///@foo/bar/com"});
        assert_eq!(issues(json!({"egress": [uds]})), "");
        let out = issues(json!({"egress": [uds, uds]}));
        assert!(out.contains("spec.egress[1].bind: sidecar: unix domain socket values for listeners must be unique"));
        let mut bad = uds.clone();
        bad["captureMode"] = json!("IPTABLES");
        bad["bind"] = json!("foobar:///@foo/bar/com");
        let out = issues(json!({"egress": [bad]}));
        assert!(
            out.contains("spec.egress[0].bind: sidecar: ports with 0 value must have a unix domain socket"),
            "{out}"
        );
        assert!(out.contains("spec.egress[0].captureMode: sidecar: captureMode must be DEFAULT/NONE"), "{out}");
    }

    #[test]
    fn duplicate_host_warnings() {
        let out = issues(json!({"egress": [{"hosts": ["./*", "bar/a.com"]}]}));
        assert_eq!(out, "spec.egress[0].hosts[1]: duplicated egress host: bar/a.com");
        let out = issues(json!({"egress": [{"hosts": ["*/*", "test/a.com"]}]}));
        assert_eq!(out, "spec.egress[0].hosts: `*/*` host select all resources, no other hosts can be added");
        assert_eq!(issues(json!({"egress": [{"hosts": ["*/*", "~ns1/*", "~/foo.com"]}]})), "");
    }
}
