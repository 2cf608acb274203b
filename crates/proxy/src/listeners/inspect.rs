//! Running a listener's inspecting filters on one connection: the TLS and HTTP inspectors look
//! at the client's first bytes with `MSG_PEEK` (nothing is consumed: the chain that serves the
//! connection reads them again), in the listener's order, each skipped when its
//! `filter_disabled` predicate holds for the destination port. An inspector that needs more
//! bytes waits for the next arrival (the readiness is cleared, so waiting costs no CPU), all
//! of them within the listener's bounded wait: on timeout the connection is closed, or, with
//! `continue_on_listener_filters_timeout`, goes on to chain matching with what was found —
//! which is how a server-first protocol (MySQL: the client says nothing until greeted) reaches
//! the TCP chain of a sniffed port instead of hanging. A client that closes before sending
//! anything, or a look past the inspector's limit, closes the connection, as in Envoy.

use super::sniff::{self, Verdict};
use crate::config::listener::ListenerFilters;
use crate::config::listener::listener_filters::Kind;
use std::os::fd::AsRawFd;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// What the inspectors found.
#[derive(Debug, Default, Clone)]
pub struct Found {
    /// `tls` when the TLS inspector saw a ClientHello.
    pub transport: Option<&'static str>,
    /// SNI.
    pub server_name: Option<String>,
    /// ALPN (offered over TLS, or detected by the HTTP inspector).
    pub alpn: Vec<String>,
}

impl Found {
    /// The transport protocol for chain matching (`raw_buffer` when no inspector claimed it).
    pub fn transport_protocol(&self) -> &'static str {
        self.transport.unwrap_or("raw_buffer")
    }
}

/// Why inspection ended the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The listener's wait ran out (and it does not continue on timeout).
    Timeout,
    /// The client closed, or the socket failed, before the inspectors decided.
    Peer,
    /// The inspector's limit was reached without a decision.
    TooLong,
}

/// Runs the inspecting filters of `filters` for a connection to `port`, adding to `found`.
pub async fn run(stream: &TcpStream, filters: &ListenerFilters, port: u16, found: &mut Found) -> Result<(), Closed> {
    let active: Vec<Kind> = filters
        .filters
        .iter()
        .filter(|f| f.kind != Kind::OriginalDst && !f.disabled.as_ref().is_some_and(|p| p.matches(port)))
        .map(|f| f.kind)
        .collect();
    if active.is_empty() {
        return Ok(());
    }
    let wait = inspect(stream, &active, found);
    match filters.timeout {
        None => wait.await,
        Some(limit) => match tokio::time::timeout(limit, wait).await {
            Ok(r) => r,
            Err(_) if filters.continue_on_timeout => Ok(()),
            Err(_) => Err(Closed::Timeout),
        },
    }
}

async fn inspect(stream: &TcpStream, active: &[Kind], found: &mut Found) -> Result<(), Closed> {
    let limit = if active.contains(&Kind::TlsInspector) { sniff::TLS_MAX_HELLO } else { sniff::HTTP_MAX_INSPECT };
    let mut buf = vec![0u8; limit];
    let mut next = 0;
    loop {
        stream.readable().await.map_err(|_| Closed::Peer)?;
        let peeked = stream.try_io(Interest::READABLE, || {
            let n = peek(stream, &mut buf)?;
            if n == 0 {
                return Ok(None);
            }
            let (done, outcome) = decide(&active[next..], &buf[..n], found);
            next += done;
            match outcome {
                // The current inspector needs more: clear the readiness and wait for more bytes.
                Step::NeedMore if n < limit => Err(std::io::ErrorKind::WouldBlock.into()),
                Step::NeedMore | Step::TooLong => Ok(Some(Err(Closed::TooLong))),
                Step::Done => Ok(Some(Ok(()))),
            }
        });
        match peeked {
            Ok(Some(result)) => return result,
            Ok(None) => return Err(Closed::Peer),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return Err(Closed::Peer),
        }
    }
}

enum Step {
    Done,
    NeedMore,
    TooLong,
}

/// Runs `active` in order on `data`; returns how many concluded and where it stopped.
fn decide(active: &[Kind], data: &[u8], found: &mut Found) -> (usize, Step) {
    for (i, kind) in active.iter().enumerate() {
        let step = match kind {
            Kind::TlsInspector => match sniff::tls(data) {
                Verdict::Found(hello) => {
                    found.transport = Some("tls");
                    found.server_name = hello.server_name;
                    found.alpn = hello.alpn;
                    None
                }
                Verdict::No => None,
                Verdict::NeedMore => Some(Step::NeedMore),
                Verdict::TooLong => Some(Step::TooLong),
            },
            // Envoy's HTTP inspector leaves connections a TLS inspector claimed alone.
            Kind::HttpInspector if found.transport.is_some() => None,
            Kind::HttpInspector => match sniff::http(data) {
                Verdict::Found(alpn) => {
                    found.alpn = vec![alpn.to_string()];
                    None
                }
                Verdict::No => None,
                Verdict::NeedMore => Some(Step::NeedMore),
                Verdict::TooLong => Some(Step::TooLong),
            },
            Kind::OriginalDst => None,
        };
        if let Some(step) = step {
            return (i, step);
        }
    }
    (active.len(), Step::Done)
}

/// `recv(MSG_PEEK)`: the bytes waiting, left in the socket.
fn peek(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    use nix::sys::socket::{MsgFlags, recv};
    recv(stream.as_raw_fd(), buf, MsgFlags::MSG_PEEK).map_err(std::io::Error::from)
}
