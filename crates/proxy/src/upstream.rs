//! Reaching a cluster's hosts, shared by HTTP and TCP: picking the host for an attempt (the
//! cluster's balancer over its healthy hosts — all hosts in panic mode —, avoiding hosts
//! already tried when asked, or the original destination a request names) and opening TCP
//! connections with the cluster's connect timeout, source address and keepalive.

use crate::config::cluster::Discovery;
use crate::config::{Cluster, Config};
use crate::failure::Failure;
use crate::lb::ActiveGuard;
use std::net::SocketAddr;
use std::time::Duration;
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
}

/// Picks the host for the next attempt; `avoid` is (hosts tried, attempts) for the
/// `previous_hosts` retry predicate.
pub fn pick<H: Fn(&str) -> Option<String>>(
    cluster: &Cluster,
    config: &Config,
    target: &Target<'_, H>,
    avoid: Option<(&[SocketAddr], u32)>,
) -> Result<(SocketAddr, Option<ActiveGuard>), Failure> {
    if let Discovery::OriginalDst(name) = &cluster.discovery {
        let value = match name.as_deref() {
            Some(":authority") => Some(target.authority.to_string()),
            Some(name) => (target.header)(name),
            None => None,
        };
        let addr = value.and_then(|v| v.parse::<SocketAddr>().ok()).filter(|a| Some(*a) != target.local);
        return addr.map(|a| (a, None)).ok_or(Failure::NoHealthyUpstream);
    }
    let hosts = config.hosts(cluster).map(|la| la.for_lb(cluster.panic_threshold)).ok_or(Failure::NoHealthyUpstream)?;
    let balancer = hosts.balancer(cluster.lb);
    let index = match avoid.filter(|(tried, _)| !tried.is_empty()) {
        Some((tried, attempts)) => {
            let skip: Vec<usize> =
                hosts.hosts.iter().enumerate().filter(|(_, a)| tried.contains(a)).map(|(i, _)| i).collect();
            balancer.pick_avoiding(&skip, attempts)
        }
        None => balancer.pick(),
    }
    .ok_or(Failure::NoHealthyUpstream)?;
    let addr = *hosts.hosts.get(index).ok_or(Failure::NoHealthyUpstream)?;
    Ok((addr, Some(balancer.track(index))))
}

/// Opens a TCP connection to `addr` for `cluster`.
pub async fn connect(cluster: &Cluster, addr: SocketAddr) -> Result<TcpStream, Failure> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() };
    let socket = socket.map_err(|e| os_failure(&e))?;
    if let Some(ip) = cluster.bind {
        socket.bind(SocketAddr::new(ip, 0)).map_err(|e| os_failure(&e))?;
    }
    let _ = socket.set_nodelay(true);
    if let Some(idle) = cluster.keepalive {
        let ka = socket2::TcpKeepalive::new().with_time(idle);
        let _ = socket2::SockRef::from(&socket).set_tcp_keepalive(&ka);
    }
    match tokio::time::timeout(cluster.connect_timeout, socket.connect(addr)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(os_failure(&e)),
        Err(_) => Err(Failure::ConnectTimeout),
    }
}

fn os_failure(e: &std::io::Error) -> Failure {
    Failure::ConnectFailure(e.raw_os_error().unwrap_or(libc::ECONNREFUSED))
}

/// Milliseconds, saturating.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
