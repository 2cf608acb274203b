//! Ranking causes: the context every rule reads ([`Ctx`]: the line's facts, the config when
//! given, and the client, server and service the line's addresses resolve to), the rules run in
//! turn, then the flags' generic causes as low-ranked fallbacks, sorted by score with one entry
//! per id.

use super::{Cause, Confidence, Mesh, policy, routing, upstream};
use crate::facts::{Direction, Facts};
use strait_registry::{Service, Workload};

/// What the rules look at.
pub(crate) struct Ctx<'a> {
    /// The line.
    pub f: &'a Facts,
    /// The config, when `-f` was given.
    pub mesh: Option<&'a Mesh>,
    /// The workload that sent the request (outbound lines), by the client's address.
    pub client: Option<&'a Workload>,
    /// The workload that served it (inbound: the logging pod; outbound: the upstream host's pod).
    pub server: Option<&'a Workload>,
    /// The destination service.
    pub service: Option<&'a Service>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(f: &'a Facts, mesh: Option<&'a Mesh>) -> Ctx<'a> {
        let Some(m) = mesh else { return Ctx { f, mesh, client: None, server: None, service: None } };
        let ip = |a: Option<&str>| a.and_then(crate::cluster::split_addr).map(|(ip, _)| ip.to_string());
        let remote = ip(f.line.downstream_remote.as_deref());
        let local = ip(f.line.downstream_local.as_deref());
        let upstream = f.upstream().map(|(ip, _)| ip.to_string());
        let by = |ip: &Option<String>| ip.as_deref().and_then(|i| m.workload_by_ip(i));
        let (client, server) = match f.direction {
            Direction::Inbound => (by(&remote), by(&local).or_else(|| by(&upstream))),
            // Capture-free sidecars receive on their own IP, so the local address names the pod too.
            _ => (by(&remote).or_else(|| by(&local)), by(&upstream)),
        };
        let ns = client.or(server).map(|w| w.namespace.as_str());
        let mut service = f.host.as_deref().and_then(|h| m.service(h, ns));
        if service.is_none()
            && let Some((ip, port)) = f.destination()
        {
            service = m.service_by_address(ip, Some(port));
        }
        Ctx { f, mesh, client, server, service }
    }

    /// The client's namespace, when known.
    pub(crate) fn client_ns(&self) -> Option<&str> {
        self.client.map(|w| w.namespace.as_str())
    }

    /// The proxy that logged the line, as `strait proxy-config` names it (`POD.NAMESPACE`).
    pub(crate) fn proxy(&self) -> Option<String> {
        let w = match self.f.direction {
            Direction::Inbound => self.server,
            _ => self.client,
        }?;
        Some(format!("{}.{}", w.name, w.namespace))
    }

    /// The destination's FQDN: the service's hostname, else the line's host.
    pub(crate) fn fqdn(&self) -> Option<&str> {
        self.service.map(|s| s.hostname.as_str()).or(self.f.host.as_deref())
    }
}

/// Every cause the rules find, best first, one per id.
pub(crate) fn causes(c: &Ctx<'_>) -> Vec<Cause> {
    let mut out = Vec::new();
    // Flags alone name no objects: their usual causes are all there is to say.
    if !c.f.flags_only {
        routing::rules(c, &mut out);
        upstream::rules(c, &mut out);
        policy::rules(c, &mut out);
    }
    generic(c, &mut out);
    out.sort_by(|a, b| b.score.cmp(&a.score).then(b.confidence.cmp(&a.confidence)));
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|cause| seen.insert(cause.id.clone()));
    out
}

/// The flag table's causes, below anything a rule found, so every flag explains itself.
fn generic(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    for flag in &c.f.flags {
        for (i, text) in flag.causes.iter().enumerate() {
            let score = 30u32.saturating_sub(u32::try_from(i).unwrap_or(0) * 3);
            let id = format!("{}-{}", flag.short.to_ascii_lowercase(), i + 1);
            let mut cause = Cause::new(&id, Confidence::Possible, score, format!("{} ({})", capital(text), flag.short));
            cause.generic = true;
            out.push(cause);
        }
    }
}

/// The text with its first letter in upper case.
pub(crate) fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}
