//! TLS causes: a DestinationRule's `tls.mode` that conflicts with what the server side accepts
//! (plaintext to a STRICT workload, app TLS to a sidecar, Istio mTLS to a pod without one),
//! expired certificates, and long-lived connections that end around certificate rotation or the
//! proxy's idle and duration limits.

use super::rank::Ctx;
use super::routing::obj;
use super::upstream::{policies, rules_for};
use super::{Cause, Confidence, Mesh, mtls_name};
use crate::details::Failure;
use strait_model::networking::destination_rule::TlsMode;
use strait_model::security::peer_authentication::MtlsMode;

pub(super) fn rules(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    mode_conflict(c, out);
    long_lived(c, out);
}

const HOUR_MS: u64 = 3_600_000;

fn mode_conflict(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    let failure = c.f.failure;
    let tls_failure = failure.is_some_and(Failure::is_tls);
    let filter_chain = c.f.line.details.as_deref() == Some("filter_chain_not_found");
    if !(tls_failure || filter_chain || ["UC", "UF", "URX", "UR"].iter().any(|f| c.f.has(f))) {
        return;
    }
    if failure == Some(Failure::CertExpired) {
        let s = "A certificate in the handshake had expired: the workload certificate was not renewed (the agent \
                 could not reach the CA) or a custom certificate (DestinationRule credentialName, files) was not \
                 rotated";
        let cause = Cause::new("cert-expired", Confidence::Confirmed, 90, s)
            .fix("Renew the certificate; check that the proxy's agent reaches the CA")
            .check("strait proxy-config secret {proxy}   # the certificates' validity");
        out.push(cause);
        return;
    }
    if let Some(m) = c.mesh
        && let Some(cause) = conflict(c, m)
    {
        out.push(cause);
        return;
    }
    if tls_failure {
        let target = c.f.target();
        let s = format!(
            "TLS settings disagree between the two sides of {target} ({}): a DestinationRule tls.mode against the \
             server's PeerAuthentication, mTLS to a pod without a sidecar, or an app serving TLS on a port the mesh \
             treats as plaintext",
            failure.map_or("", Failure::words)
        );
        let score = if c.mesh.is_some() { 55 } else { 78 };
        out.push(Cause::new("tls-mode-conflict", Confidence::Likely, score, s).fix(FIX));
    }
}

const FIX: &str = "Make the client's DestinationRule tls.mode match the server: ISTIO_MUTUAL (or no tls block: auto \
                   mTLS) for pods with sidecars, DISABLE or SIMPLE for servers without; relax the PeerAuthentication \
                   only if plaintext is intended";

/// A tls.mode in the client's DestinationRule that the server side cannot accept.
fn conflict(c: &Ctx<'_>, m: &Mesh) -> Option<Cause> {
    let svc = c.service?;
    let port = c.f.port;
    let (dr_name, mode) = rules_for(c, m).into_iter().find_map(|dr| {
        let mode = policies(&dr.spec, c.f.subset.as_deref()).iter().find_map(|tp| {
            let by_port = tp.port_level_settings.iter().find(|p| p.port.as_ref().map(|s| s.number) == port);
            by_port.and_then(|p| p.tls.as_ref()).or(tp.tls.as_ref()).map(|t| t.mode)
        })?;
        Some((obj("DestinationRule", dr), mode))
    })?;
    let ep = svc.endpoints.first();
    let sidecar = ep.map(|e| e.istio_tls);
    let target_port = ep.and_then(|e| port.and_then(|p| e.ports.get(&p).copied()));
    let (pa, pa_name) = match ep {
        Some(e) => m.mtls_mode(&e.namespace, &e.labels, target_port),
        None => m.mtls_mode(&svc.namespace, &Default::default(), target_port),
    };
    let host = &svc.hostname;
    let pa_name = pa_name.unwrap_or_else(|| "the default".into());
    let (pa_text, mode_text) = (mtls_name(pa), tls_name(mode));
    let summary = match (mode, pa, sidecar) {
        (TlsMode::Disable, MtlsMode::Strict, _) => format!(
            "{dr_name} sets tls.mode DISABLE for {host}, so the client sidecar sends plaintext, but {pa_name} \
             requires mTLS (STRICT): the server sidecar drops the connection"
        ),
        (TlsMode::Simple | TlsMode::Mutual, _, Some(true)) => format!(
            "{dr_name} sets tls.mode {mode_text} for {host}: the client sidecar originates its own TLS, but the pods \
             have sidecars that expect Istio mTLS ({pa_text} by {pa_name}), so the handshake or the protocol breaks"
        ),
        (TlsMode::IstioMutual, _, Some(false)) => format!(
            "{dr_name} sets tls.mode ISTIO_MUTUAL for {host}, but its pods have no sidecar: they receive an Istio mTLS \
             handshake they cannot answer"
        ),
        _ => return None,
    };
    Some(
        Cause::new("tls-mode-conflict", Confidence::Confirmed, 95, summary)
            .evidence(format!("server side: {pa_text} ({pa_name})"))
            .fix(FIX),
    )
}

/// Istio's spelling of a client TLS mode.
fn tls_name(m: TlsMode) -> &'static str {
    match m {
        TlsMode::Disable => "DISABLE",
        TlsMode::Simple => "SIMPLE",
        TlsMode::Mutual => "MUTUAL",
        TlsMode::IstioMutual => "ISTIO_MUTUAL",
    }
}

/// A long TCP connection that ended: certificate rotation, the TCP idle timeout, or a duration cap.
fn long_lived(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    let Some(ms) = c.f.line.duration_ms else { return };
    if !c.f.line.is_tcp() || ms < HOUR_MS - 5 * 60_000 {
        return;
    }
    let hours = ms as f64 / HOUR_MS as f64;
    let target = c.f.target();
    let capped = c.mesh.and_then(|m| {
        rules_for(c, m).into_iter().find_map(|dr| {
            let tcp = policies(&dr.spec, c.f.subset.as_deref())
                .iter()
                .find_map(|tp| tp.connection_pool.as_ref()?.tcp.clone())?;
            let d = tcp.max_connection_duration.or(tcp.idle_timeout)?;
            Some(format!("{} sets maxConnectionDuration/idleTimeout {d}", obj("DestinationRule", dr)))
        })
    });
    if let Some(why) = capped {
        let s = format!("The connection to {target} lasted {hours:.1}h and was closed by the configured limit: {why}");
        out.push(Cause::new("connection-duration-limit", Confidence::Confirmed, 90, s));
    }
    let rotation = format!(
        "The connection to {target} lasted {hours:.1}h, as long as a workload certificate lives before rotation (24h \
         certificates are renewed at about half-life). A connection keeps the certificate it was opened with; a proxy \
         restart on rotation (older Istio) or a peer re-checking expiry ends such long-lived connections"
    );
    let idle = format!(
        "The connection to {target} lasted {hours:.1}h: an idle TCP connection is closed after the proxy's TCP idle \
         timeout (1h by default), so a pooled connection that sat idle for an hour is dropped"
    );
    let (rot, idl) = if hours >= 11.0 { (76, 60) } else { (50, 70) };
    let cert_fix = "Make clients reconnect on close, and cap connection life below the certificate's \
                    (DestinationRule connectionPool.tcp.maxConnectionDuration) so reconnects happen on your schedule";
    let cause = Cause::new("cert-rotation", Confidence::Likely, rot, rotation)
        .fix(cert_fix)
        .check("strait proxy-config secret {proxy}   # the workload certificate's validity and renewal")
        .field("DestinationRule.spec.trafficPolicy.connectionPool.tcp.maxConnectionDuration")
        .field("DestinationRule.spec.trafficPolicy.connectionPool.tcp.idleTimeout");
    out.push(cause);
    let idle_fix =
        "Enable TCP keepalives or application pings below 1h, or raise DestinationRule connectionPool.tcp.idleTimeout";
    out.push(Cause::new("tcp-idle-timeout", Confidence::Likely, idl, idle).fix(idle_fix));
}
