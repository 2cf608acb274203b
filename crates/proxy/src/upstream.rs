//! Reaching a cluster's hosts, shared by HTTP and TCP: picking the host for an attempt (the
//! cluster's balancer over its healthy hosts minus those outlier detection ejected — all hosts
//! in panic mode —, avoiding hosts already tried when asked, or the original destination a
//! request names), reporting each attempt's outcome to outlier detection, and opening TCP
//! connections with the cluster's connect timeout, source address and keepalive. TCP and
//! CONNECT users get a [`Connection`] that holds a circuit-breaker connection permit; HTTP
//! pools count their connections themselves (`crate::http::client`).
//!
//! Run-time state: [`breakers`] (circuit-breaker counters), [`outlier`] (ejections), and
//! [`retry`] (how a retry policy's end shows in the response flags).

pub mod breakers;
pub mod outlier;
pub mod retry;
pub mod warming;

use crate::config::cluster::{Discovery, HostSet};
use crate::config::{Cluster, Config};
use crate::failure::Failure;
use crate::lb::ActiveGuard;
use outlier::Outcome;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};

/// Where a request came in and what it names, for picking its host.
pub struct Target<'a, H: Fn(&str) -> Option<String>> {
    /// `:authority`.
    pub authority: &'a str,
    /// Reads a request header (ORIGINAL_DST clusters may take the destination from one).
    pub header: H,
    /// The listener address the request arrived on: an original destination equal to it
    /// would send the request back to us in a loop, so it counts as no host (Envoy answers
    /// such requests with `UH` too).
    pub local: Option<SocketAddr>,
    /// The downstream connection's original destination, when the listener restored it
    /// (iptables capture): where an ORIGINAL_DST cluster connects when no header names a host.
    pub original_dst: Option<SocketAddr>,
}

/// Picks the host for the next attempt; `avoid` is (hosts tried, attempts) for the
/// `previous_hosts` retry predicate.
pub fn pick<H: Fn(&str) -> Option<String>>(
    cluster: &Cluster,
    config: &Config,
    target: &Target<'_, H>,
    avoid: Option<(&[SocketAddr], u32)>,
) -> Result<(SocketAddr, Option<ActiveGuard>), Failure> {
    pick_keyed(cluster, config, target, avoid, None)
}

/// [`pick`] with the request's hash key (ring-hash and Maglev clusters; None: a random key).
pub fn pick_keyed<H: Fn(&str) -> Option<String>>(
    cluster: &Cluster,
    config: &Config,
    target: &Target<'_, H>,
    avoid: Option<(&[SocketAddr], u32)>,
    key: Option<u64>,
) -> Result<(SocketAddr, Option<ActiveGuard>), Failure> {
    if let Discovery::OriginalDst(name) = &cluster.discovery {
        let value = match name.as_deref() {
            Some(":authority") => Some(target.authority.to_string()),
            Some(name) => (target.header)(name),
            None => None,
        };
        let addr = value.and_then(|v| v.parse::<SocketAddr>().ok()).filter(|a| Some(*a) != target.local);
        return addr.or(target.original_dst).map(|a| (a, None)).ok_or(Failure::NoHealthyUpstream);
    }
    let la = config.hosts(cluster).ok_or(Failure::NoHealthyUpstream)?;
    let eligible;
    let hosts: &HostSet = match &cluster.outlier {
        Some(detector) => {
            detector.observe(la);
            if detector.any_ejected() {
                match detector.eligible(la, cluster.panic_threshold) {
                    Some(set) => {
                        eligible = set;
                        &eligible
                    }
                    None => &la.all,
                }
            } else {
                la.for_lb(cluster.panic_threshold)
            }
        }
        None => la.for_lb(cluster.panic_threshold),
    };
    let balancer = hosts.balancer(cluster.lb);
    let index = match avoid.filter(|(tried, _)| !tried.is_empty()) {
        Some((tried, attempts)) => {
            let skip: Vec<usize> =
                hosts.hosts.iter().enumerate().filter(|(_, a)| tried.contains(a)).map(|(i, _)| i).collect();
            balancer.pick_hashed(key, &skip, attempts)
        }
        None if cluster.lb.is_hashing() => balancer.pick_hashed(key, &[], 1),
        None => balancer.pick(),
    }
    .ok_or(Failure::NoHealthyUpstream)?;
    let addr = *hosts.hosts.get(index).ok_or(Failure::NoHealthyUpstream)?;
    Ok((addr, Some(balancer.track(index))))
}

/// Reports an attempt's outcome on `addr` to the cluster's outlier detection, if any.
pub fn report(cluster: &Cluster, addr: SocketAddr, outcome: Outcome) {
    if let Some(detector) = &cluster.outlier {
        detector.report(addr, outcome);
    }
}

/// How to open a TCP connection to a host of one cluster.
#[derive(Debug, Clone, Copy)]
pub struct Dial {
    /// Connect timeout.
    pub timeout: Duration,
    /// Source address.
    pub bind: Option<IpAddr>,
    /// SO_KEEPALIVE idle time.
    pub keepalive: Option<Duration>,
}

impl Dial {
    /// The dial settings of `cluster`.
    pub fn of(cluster: &Cluster) -> Self {
        Dial { timeout: cluster.connect_timeout, bind: cluster.bind, keepalive: cluster.keepalive }
    }

    /// Opens a TCP connection to `addr` (`UF` failures: refused, or timed out).
    pub async fn connect(self, addr: SocketAddr) -> Result<TcpStream, Failure> {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() };
        let socket = socket.map_err(|e| os_failure(&e))?;
        if let Some(ip) = self.bind {
            socket.bind(SocketAddr::new(ip, 0)).map_err(|e| os_failure(&e))?;
        }
        let _ = socket.set_nodelay(true);
        if let Some(idle) = self.keepalive {
            let ka = socket2::TcpKeepalive::new().with_time(idle);
            let _ = socket2::SockRef::from(&socket).set_tcp_keepalive(&ka);
        }
        match tokio::time::timeout(self.timeout, socket.connect(addr)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(os_failure(&e)),
            Err(_) => Err(Failure::ConnectTimeout),
        }
    }
}

/// An upstream TCP connection for a TCP proxy or CONNECT tunnel: the stream plus the
/// cluster's circuit-breaker connection permit, held until it closes.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    _permit: breakers::Permit,
}

impl std::ops::Deref for Connection {
    type Target = TcpStream;
    fn deref(&self) -> &TcpStream {
        &self.stream
    }
}

impl AsyncRead for Connection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Opens a TCP connection to `addr` for `cluster` as Envoy's TCP proxy does: refused with
/// `UO` at `max_connections`, and the outcome reported to outlier detection (a connection is
/// the whole transaction here).
pub async fn connect(cluster: &Cluster, addr: SocketAddr) -> Result<Connection, Failure> {
    let permit = cluster.breakers.connection().ok_or(Failure::Overflow)?;
    match Dial::of(cluster).connect(addr).await {
        Ok(stream) => {
            report(cluster, addr, Outcome::ConnectedFinal);
            Ok(Connection { stream, _permit: permit })
        }
        Err(f) => {
            report(cluster, addr, Outcome::ConnectFailed);
            Err(f)
        }
    }
}

fn os_failure(e: &std::io::Error) -> Failure {
    Failure::ConnectFailure(e.raw_os_error().unwrap_or(libc::ECONNREFUSED))
}

/// Milliseconds, saturating.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
