//! Causes about the upstream side: no healthy endpoint (subsets selecting no pods, selectors
//! matching nothing, pods not ready, outlier ejection), connect failures (refused because the
//! app listens elsewhere or only on IPv4, stale or unreachable endpoints, file descriptors),
//! connections closed mid-request (keep-alive races), circuit breakers, and statuses that
//! came from the app itself.

use super::rank::Ctx;
use super::routing::{obj, subset_cause};
use super::{Cause, Confidence, Mesh};
use crate::details::Failure;
use strait_model::Object;
use strait_model::networking::destination_rule::{DestinationRule, TrafficPolicy};
use strait_registry::Service;

pub(super) fn rules(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    no_healthy(c, out);
    connect_failure(c, out);
    termination(c, out);
    overflow(c, out);
    app_status(c, out);
    super::tls::rules(c, out);
    super::protocol::rules(c, out);
}

/// The DestinationRules for the line's destination that its client sees.
pub(super) fn rules_for<'m>(c: &Ctx<'_>, m: &'m Mesh) -> Vec<&'m Object<DestinationRule>> {
    let Some(fqdn) = c.fqdn() else { return Vec::new() };
    let all = m.destination_rules(fqdn);
    match c.client_ns() {
        Some(ns) => all.into_iter().filter(|d| m.dr_visible(d, ns)).collect(),
        None => all,
    }
}

/// The traffic policies that apply to the line's port and subset, most specific first.
pub(super) fn policies<'d>(dr: &'d DestinationRule, subset: Option<&str>) -> Vec<&'d TrafficPolicy> {
    let sub = subset.and_then(|s| dr.subsets.iter().find(|x| x.name == s)).and_then(|s| s.traffic_policy.as_ref());
    sub.into_iter().chain(dr.traffic_policy.as_ref()).collect()
}

fn no_healthy(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    if !c.f.has("UH") || c.f.black_hole {
        return;
    }
    let target = c.f.target();
    let (Some(m), Some(svc)) = (c.mesh, c.service) else {
        if let Some(subset) = &c.f.subset {
            let s = format!(
                "Subset {subset} of {target} selects no ready pod: its DestinationRule labels match none of the \
                 service's pods"
            );
            out.push(Cause::new("subset-selects-no-pods", Confidence::Likely, 66, s));
        }
        let s = format!(
            "No ready pod behind {target}: pods not Ready (readiness probe failing, crash-looping), scaled to zero, \
             or replaced during a rollout"
        );
        out.push(
            Cause::new("no-ready-endpoints", Confidence::Likely, 62, s)
                .fix("Check the pods' READY column and events; restart or fix the failing ones"),
        );
        return;
    };
    match c.f.subset.as_deref() {
        Some(subset) => subset_endpoints(c, m, svc, subset, out),
        None => service_endpoints(m, svc, svc.endpoints.iter().collect(), "", out),
    }
    outlier(c, m, out);
}

fn subset_endpoints(c: &Ctx<'_>, m: &Mesh, svc: &Service, subset: &str, out: &mut Vec<Cause>) {
    let drs = rules_for(c, m);
    let def = drs.iter().find_map(|d| d.spec.subsets.iter().find(|s| s.name == subset).map(|s| (d, s)));
    let Some((dr, def)) = def else {
        return subset_cause(c, m, "the route", &svc.hostname, subset, &drs, out);
    };
    let chosen: Vec<_> =
        svc.endpoints.iter().filter(|e| def.labels.iter().all(|(k, v)| e.labels.get(k) == Some(v))).collect();
    if !chosen.is_empty() {
        return service_endpoints(m, svc, chosen, &format!(" in subset {subset}"), out);
    }
    let labels: Vec<String> = def.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let have = if svc.endpoints.is_empty() {
        // Config without pods (Deployments only): judge by the pod templates.
        let mut selector = service_selector(m, svc);
        selector.extend(def.labels.clone());
        let templates = m.selected_workloads(&svc.namespace, &selector);
        if !templates.is_empty() {
            let s = format!(
                "Subset {subset} of {} selects {}, but it has no ready endpoint: those pods are not running or not \
                 ready (crash-looping, failing readiness, scaled to 0)",
                svc.hostname,
                templates.join(", ")
            );
            out.push(Cause::new("no-ready-endpoints", Confidence::Likely, 70, s).fix(READY_FIX));
            return;
        }
        "no Pod or Deployment in the config carries them".to_string()
    } else {
        let mut seen: Vec<String> = svc.endpoints.iter().map(|e| subset_labels(&def.labels, &e.labels)).collect();
        seen.retain(|l| !l.is_empty());
        seen.sort();
        seen.dedup();
        match seen.is_empty() {
            true => format!("none of its {} endpoints carries those labels", svc.endpoints.len()),
            false => format!("its {} endpoints carry {}", svc.endpoints.len(), seen.join(" / ")),
        }
    };
    let s = format!(
        "Subset {subset} of {} ({}) selects pods labelled {}, and {have}: the subset never has an endpoint",
        svc.hostname,
        obj("DestinationRule", dr),
        labels.join(", ")
    );
    let fix =
        "Fix the subset's labels to match the pods (or deploy that version); strait analyze reports it as IST0173";
    out.push(Cause::new("subset-selects-no-pods", Confidence::Confirmed, 95, s).fix(fix));
}

const READY_FIX: &str = "Look at the pods' READY column, probes and restarts; fix or restart them";

/// An endpoint's values for the subset's label keys, as `k=v,…`.
fn subset_labels(
    subset: &std::collections::BTreeMap<String, String>,
    labels: &std::collections::BTreeMap<String, String>,
) -> String {
    let pairs: Vec<String> =
        labels.iter().filter(|(k, _)| subset.contains_key(*k)).map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(",")
}

/// The Kubernetes selector of a registry service (empty for ServiceEntries).
fn service_selector(m: &Mesh, svc: &Service) -> std::collections::BTreeMap<String, String> {
    let name = svc.hostname.split('.').next().unwrap_or_default();
    m.k8s_service(&svc.namespace, name).and_then(|s| s.spec.as_ref()?.selector.clone()).unwrap_or_default()
}

/// The endpoints exist but none is ready, or there are none and why.
fn service_endpoints(m: &Mesh, svc: &Service, eps: Vec<&strait_registry::Endpoint>, what: &str, out: &mut Vec<Cause>) {
    if !eps.is_empty() {
        if eps.iter().all(|e| !e.ready) {
            let names: Vec<String> = eps
                .iter()
                .map(|e| if e.workload.is_empty() { e.address.clone() } else { e.workload.clone() })
                .collect();
            let s = format!(
                "Every endpoint of {}{what} is not ready ({}): the pods fail their readiness probe, or are starting \
                 or terminating",
                svc.hostname,
                names.join(", ")
            );
            out.push(Cause::new("no-ready-endpoints", Confidence::Confirmed, 92, s).fix(READY_FIX));
        }
        return;
    }
    let (name, ns) = (svc.hostname.split('.').next().unwrap_or_default(), svc.namespace.as_str());
    let selector = service_selector(m, svc);
    let selected = m.selected_workloads(ns, &selector);
    let labels: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !selector.is_empty() && selected.is_empty() {
        let s = format!(
            "Service {ns}/{name} selects {}, and no Pod or Deployment in namespace {ns} has those labels: it has no \
             endpoints",
            labels.join(", ")
        );
        out.push(
            Cause::new("selector-matches-nothing", Confidence::Confirmed, 92, s)
                .fix("Fix the Service's selector or the pods' labels"),
        );
    } else if !selected.is_empty() {
        let s = format!(
            "{}{what} has no endpoints: {} match its selector, so its pods are not running or not ready \
             (crash-looping, failing readiness, scaled to 0)",
            svc.hostname,
            selected.join(", ")
        );
        out.push(
            Cause::new("no-ready-endpoints", Confidence::Likely, 70, s)
                .fix("Look at the pods' READY column and events"),
        );
    }
}

fn outlier(c: &Ctx<'_>, m: &Mesh, out: &mut Vec<Cause>) {
    for dr in rules_for(c, m) {
        for tp in policies(&dr.spec, c.f.subset.as_deref()) {
            if let Some(o) = &tp.outlier_detection {
                let errors = o.consecutive_5xx_errors.or(o.consecutive_gateway_errors).map(|n| n.to_string());
                let s = format!(
                    "Outlier detection in {} ejected the endpoints (after {} consecutive errors, for {})",
                    obj("DestinationRule", dr),
                    errors.unwrap_or_else(|| "5".into()),
                    o.base_ejection_time.map_or("30s".into(), |d| d.to_string())
                );
                out.push(
                    Cause::new("outlier-ejected", Confidence::Likely, 58, s)
                        .fix("Find why the endpoints fail (the app's 5xx); raise maxEjectionPercent only with care"),
                );
                return;
            }
        }
    }
}

fn connect_failure(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    let failure = c.f.failure;
    if !(c.f.has("UF")
        || matches!(
            failure,
            Some(Failure::Refused | Failure::FdExhausted | Failure::Unreachable | Failure::ConnectTimeout)
        ))
    {
        return;
    }
    let upstream = c.f.line.upstream_host.clone().unwrap_or_else(|| "the endpoint".into());
    match failure {
        Some(Failure::FdExhausted) => {
            let s = "The proxy could not open a socket: too many open files. It needs a descriptor per connection, and \
                     with the common default limit (ulimit -n 1024) a busy proxy runs out (Envoy may even abort with \
                     `assert failure: fd_ != -1`)";
            let fix = "Raise the proxy's open-file limit (ulimit -n 65536 before starting it, LimitNOFILE= in \
                       systemd, or the container runtime's nofile ulimit)";
            out.push(Cause::new("fd-limit", Confidence::Confirmed, 95, s).fix(fix));
        }
        Some(Failure::Refused) => refused(c, &upstream, out),
        Some(Failure::Unreachable | Failure::ConnectTimeout) => {
            let stale =
                c.service.zip(c.f.upstream()).is_some_and(|(s, (ip, _))| !s.endpoints.iter().any(|e| e.address == ip));
            let s = format!(
                "{upstream} did not answer the connect ({}): a stale endpoint (the pod is gone, e.g. after a \
                 StatefulSet restart), a NetworkPolicy or firewall, or a connectTimeout shorter than the network \
                 needs",
                failure.map_or("", Failure::words)
            );
            let (confidence, score) = if stale { (Confidence::Confirmed, 86) } else { (Confidence::Likely, 70) };
            let mut cause = Cause::new("endpoint-unreachable", confidence, score, s);
            if stale {
                cause = cause.evidence(format!(
                    "{upstream} is not an endpoint of {} in the config",
                    c.fqdn().unwrap_or_default()
                ));
            }
            out.push(cause);
        }
        _ if c.f.has("UF") && failure.is_none_or(|f| !f.is_tls()) => {
            let s = format!(
                "Nothing accepted the connection at {upstream}: the app is not up yet, listens on another port, or \
                 only on 127.0.0.1"
            );
            out.push(Cause::new("app-not-listening", Confidence::Likely, 56, s));
        }
        _ => {}
    }
}

fn refused(c: &Ctx<'_>, upstream: &str, out: &mut Vec<Cause>) {
    let inbound = c.f.direction == crate::facts::Direction::Inbound;
    let ipv6 = c.f.upstream().is_some_and(|(ip, _)| ip.contains(':'));
    if let (Some(w), Some(svc)) = (c.server, c.service)
        && let Some((ip, port)) = c.f.upstream()
        && !w.ports.is_empty()
        && !w.ports.values().any(|p| *p == port)
    {
        let declared: Vec<String> = w.ports.iter().map(|(n, p)| format!("{p} ({n})")).collect();
        let s = format!(
            "{} sends to port {port} of {ip} ({}/{}), but that pod declares container ports [{}]: the Service's \
             targetPort points where the app does not listen",
            svc.hostname,
            w.namespace,
            w.name,
            declared.join(", ")
        );
        out.push(
            Cause::new("target-port-mismatch", Confidence::Confirmed, 90, s)
                .fix("Point the Service's targetPort at the containerPort the app listens on"),
        );
    }
    if ipv6 {
        let s = format!(
            "Nothing accepted the connection at {upstream}, an IPv6 address: the app listens only on IPv4 (0.0.0.0), \
             so connections to the pod's IPv6 address are refused"
        );
        let fix = "Make the app listen on :: (dual-stack) or on its pod IP (POD_IP from status.podIP)";
        out.push(Cause::new("ipv4-only-listener", Confidence::Likely, 85, s).fix(fix));
    }
    let (score, where_) = if inbound {
        (
            80,
            "the sidecar forwards inbound traffic to the app at the pod's IP; an app bound to 127.0.0.1/localhost, to \
             another port, or not started yet refuses it",
        )
    } else {
        (
            70,
            "the app behind it is not listening there: not started yet, crashed, bound to 127.0.0.1, or on another \
             port",
        )
    };
    let s = format!("The connection to {upstream} was refused: {where_}");
    out.push(
        Cause::new("app-not-listening", Confidence::Likely, score, s)
            .fix("Make the app listen on 0.0.0.0 / :: (or its pod IP) on the Service's targetPort"),
    );
}

fn termination(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    if !(c.f.has("UC") || c.f.failure == Some(Failure::Termination)) || c.f.failure.is_some_and(Failure::is_tls) {
        return;
    }
    let target = c.f.target();
    let idle = c.mesh.map(|m| {
        rules_for(c, m).into_iter().find_map(|dr| {
            policies(&dr.spec, c.f.subset.as_deref())
                .iter()
                .find_map(|tp| tp.connection_pool.as_ref()?.http.as_ref()?.idle_timeout)
                .map(|t| (obj("DestinationRule", dr), t))
        })
    });
    let s = format!(
        "A keep-alive race: the app behind {target} closed an idle pooled connection just as the proxy sent this \
         request on it (the app's keep-alive timeout is shorter than the proxy's idle timeout, 1h by default)"
    );
    let fix = "Set DestinationRule trafficPolicy.connectionPool.http.idleTimeout below the app's keep-alive timeout, \
               and let retries cover it (retryOn includes reset / reset-before-request)";
    let cause = match idle.flatten() {
        Some((dr, t)) => Cause::new("keepalive-race", Confidence::Likely, 55, s)
            .evidence(format!("{dr} already sets idleTimeout {t}: it must stay below the app's")),
        None => Cause::new("keepalive-race", Confidence::Likely, 72, s),
    };
    out.push(cause.fix(fix));
}

fn overflow(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    if !(c.f.has("UO") || c.f.failure == Some(Failure::Overflow)) {
        return;
    }
    let target = c.f.target();
    let Some(m) = c.mesh else {
        let s = format!(
            "A DestinationRule's connectionPool limits for {target} are lower than the concurrent traffic from this \
             proxy"
        );
        out.push(Cause::new("circuit-breaker", Confidence::Likely, 80, s));
        return;
    };
    for dr in rules_for(c, m) {
        for tp in policies(&dr.spec, c.f.subset.as_deref()) {
            let Some(pool) = &tp.connection_pool else { continue };
            let mut limits = Vec::new();
            if let Some(n) = pool.tcp.as_ref().and_then(|t| t.max_connections) {
                limits.push(format!("maxConnections: {n}"));
            }
            if let Some(h) = &pool.http {
                for (name, v) in [
                    ("http1MaxPendingRequests", h.http1_max_pending_requests),
                    ("http2MaxRequests", h.http2_max_requests),
                    ("maxRetries", h.max_retries),
                ] {
                    if let Some(v) = v {
                        limits.push(format!("{name}: {v}"));
                    }
                }
            }
            if !limits.is_empty() {
                let s = format!(
                    "{} limits {target} to {} per client proxy; more concurrent requests than that are rejected with \
                     503 UO",
                    obj("DestinationRule", dr),
                    limits.join(", ")
                );
                out.push(
                    Cause::new("circuit-breaker", Confidence::Confirmed, 92, s)
                        .fix("Raise the limits to the real concurrency, or add capacity upstream"),
                );
                return;
            }
        }
    }
    let s = format!(
        "No DestinationRule in the config limits {target} (Istio leaves the circuit breakers at their maximum): the \
         limit comes from config elsewhere (another namespace's DestinationRule, an EnvoyFilter)"
    );
    out.push(Cause::new("circuit-breaker", Confidence::Possible, 40, s));
}

fn app_status(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    let status = c.f.line.status.unwrap_or_default();
    if status < 400 || c.f.local_reply() || c.f.flags_only {
        return;
    }
    let upstream = c.f.line.upstream_host.clone().unwrap_or_else(|| "the upstream".into());
    let sidecar = c.service.is_some_and(|s| s.endpoints.iter().any(|e| e.istio_tls))
        || c.f.direction == crate::facts::Direction::Outbound;
    let mut s = format!(
        "The status {status} came from {upstream} (no flag, details via_upstream): the proxy delivered the request \
         and passed the answer on"
    );
    if sidecar && c.f.direction == crate::facts::Direction::Outbound {
        s.push_str(
            "; if that pod has a sidecar, its inbound side may have answered: read that pod's proxy log for \
                    the same request id",
        );
    }
    let by = if c.f.direction == crate::facts::Direction::Inbound { 90 } else { 80 };
    out.push(
        Cause::new("upstream-answered", Confidence::Confirmed, by, s)
            .fix("Look at the app's own logs for this request"),
    );
}
