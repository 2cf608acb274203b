//! Port names decide the protocol (`http-…`, `grpc-…`, `tcp-…`, or nothing and sniffing), and
//! a wrong one shows up as plain-TCP records where HTTP rules were expected, or as protocol
//! errors and resets when the proxy speaks the wrong protocol to the app.

use super::rank::Ctx;
use super::routing::obj;
use super::{Cause, Confidence};
use crate::details::Failure;
use strait_registry::{Protocol, ServicePort};

pub(super) fn rules(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    let port = c.service.zip(c.f.port).and_then(|(s, p)| s.port(p));
    match port {
        Some(port) if c.f.line.is_tcp() && !c.f.flags_only => tcp_record(c, port, out),
        Some(port) => wrong_protocol(c, port, out),
        None if c.f.has("UPE") || c.f.has("DPE") => {
            let s = format!(
                "The proxy and the other side of {} disagree on the protocol: the Service port's name declares one \
                 (http, http2/grpc, tcp) and the app (or client) speaks another, such as TLS on an http port",
                c.f.target()
            );
            out.push(checked(Cause::new("port-protocol", Confidence::Likely, 60, s).fix(FIX)));
        }
        None => {}
    }
}

/// What to check and look at for a port-name problem.
fn checked(cause: Cause) -> Cause {
    cause
        .check("strait proxy-config listeners {proxy}   # the listener for port {port}: HTTP, sniffed, or plain TCP")
        .check("strait analyze -f {dir}   # IST0118: port names that do not declare the protocol")
        .field("Service.spec.ports[].name")
        .field("Service.spec.ports[].appProtocol")
}

const FIX: &str = "Name the Service port after its protocol (http-…, http2-…, grpc-…, https-…, tls-…, tcp-…) \
                   or set appProtocol";

/// A TCP record for a port whose VirtualService has HTTP rules.
fn tcp_record(c: &Ctx<'_>, port: &ServicePort, out: &mut Vec<Cause>) {
    let Some(m) = c.mesh else { return };
    let host = c.fqdn().unwrap_or_default();
    let http_vs = m.virtual_services(host).into_iter().find(|vs| !vs.spec.http.is_empty());
    let why = match port.protocol {
        Protocol::Unknown => "declares no protocol, so the sidecar sniffs each connection; this one was not plain \
                              HTTP/1.1 or h2c (TLS, HTTP/1.0, or a protocol where the server speaks first) and went \
                              through as plain TCP"
            .to_string(),
        p if !p.is_http() => format!("declares {p:?}, so the sidecar proxies it as plain TCP"),
        _ => return,
    };
    let consequence = match http_vs {
        Some(vs) => format!(
            ": the HTTP rules of {} (routes, retries, timeouts, faults) did not apply",
            obj("VirtualService", vs)
        ),
        None => ": no HTTP routing, retries, or per-request metrics for it".to_string(),
    };
    let (confidence, score) = if http_vs.is_some() { (Confidence::Confirmed, 86) } else { (Confidence::Likely, 52) };
    let s = format!("Port {} of {host} is named `{}`, which {why}{consequence}", port.number, port.name);
    out.push(checked(Cause::new("port-protocol", confidence, score, s).fix(FIX)));
}

/// Protocol errors and resets where the declared protocol does not match what the app speaks.
fn wrong_protocol(c: &Ctx<'_>, port: &ServicePort, out: &mut Vec<Cause>) {
    let broken = c.f.has("UPE")
        || c.f.has("DPE")
        || matches!(c.f.failure, Some(Failure::ProtocolError | Failure::TlsVersusPlaintext))
        || c.f.line.details.as_deref().is_some_and(|d| d.starts_with("http1.codec_error"));
    let reset = c.f.has("UR") || c.f.has("UC");
    let host = c.fqdn().unwrap_or_default();
    let name = &port.name;
    let s = match port.protocol {
        Protocol::Http if broken => format!(
            "Port {} of {host} is named `{name}`, which declares plaintext HTTP: the sidecar speaks HTTP/1.1 to the \
             app, so an app serving TLS (https) or only HTTP/2 answers with bytes the proxy cannot parse",
            port.number
        ),
        Protocol::Http2 | Protocol::Grpc | Protocol::GrpcWeb if broken || reset => format!(
            "Port {} of {host} is named `{name}`, which declares HTTP/2: the sidecar speaks HTTP/2 to the app, and an \
             HTTP/1.1-only app resets or closes the connection",
            port.number
        ),
        Protocol::Unknown if broken => format!(
            "Port {} of {host} is named `{name}`, which declares no protocol: the sidecar guesses per connection, and \
             this one was guessed wrong",
            port.number
        ),
        _ => return,
    };
    out.push(checked(Cause::new("port-protocol", Confidence::Likely, 76, s).fix(FIX)));
}
