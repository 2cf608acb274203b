//! The connections to one upstream host, as Envoy's per-host connection pools:
//!
//! - HTTP/1.1: an idle connection is reused (most recently used first); otherwise the request
//!   waits as pending and a connection is opened for every pending request not yet covered
//!   by one being opened — unless the cluster is at `max_connections` (a host with no
//!   connection at all still gets one, as in Envoy). Whichever connection comes free first
//!   serves the oldest pending request. A connection comes free when its response has been
//!   read to the end; it is closed instead after `max_requests_per_connection` requests or
//!   past `max_connection_duration`, and idle ones close after `idle_timeout`.
//! - HTTP/2: one connection multiplexes every request; pending requests wait for it to be
//!   opened, a new one replaces it when it closes, reaches its request limit or its maximum
//!   duration, and it closes after `idle_timeout` without streams.
//! - A failed connect fails every pending request of the host (Envoy purges them too), with
//!   the connect failure (`UF`) for each to report and retry.

use super::h1::{Connection, Framing, SendError, Upgraded};
use super::h1_body::{H1Body, Lease, ResponseBody};
use super::{Sent, classify, lock};
use crate::config::Cluster;
use crate::config::cluster::ConnectionLimits;
use crate::failure::Failure;
use crate::http::body::UpstreamBody;
use crate::lb::ActiveGuard;
use crate::upstream::Dial;
use crate::upstream::breakers::{Breakers, Permit};
use http::Request;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

type Sender2 = http2::SendRequest<UpstreamBody>;

/// The pool of one host.
#[derive(Debug)]
pub(super) struct HostPool {
    addr: SocketAddr,
    dial: Dial,
    limits: ConnectionLimits,
    breakers: Breakers,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Idle HTTP/1.1 connections, most recently used last.
    idle: Vec<Idle>,
    /// Pending HTTP/1.1 requests, oldest first.
    waiters1: VecDeque<oneshot::Sender<Result<Conn1, Failure>>>,
    /// HTTP/1.1 connections being opened.
    connecting1: usize,
    /// Pending HTTP/2 requests.
    waiters2: Vec<oneshot::Sender<Result<Lease2, Failure>>>,
    /// The HTTP/2 connection new requests go to.
    h2: Option<Conn2>,
    /// An HTTP/2 connection is being opened.
    connecting2: bool,
    /// Connections open or being opened (both protocols).
    open: usize,
    /// The reaper task runs.
    reaping: bool,
}

/// An HTTP/1.1 connection, idle or lent to one request.
#[derive(Debug)]
pub(super) struct Conn1 {
    pub(super) io: Connection,
    local: Option<SocketAddr>,
    created: Instant,
    served: u32,
    _open: Open,
}

/// An open connection's place in its pool: its circuit-breaker permit, and the pool's count,
/// which drops (and may open a connection for a waiting request) when the connection closes.
#[derive(Debug)]
struct Open {
    _permit: Permit,
    pool: Weak<HostPool>,
}

impl Drop for Open {
    fn drop(&mut self) {
        // Connections are also dropped under the pool's lock: the count is updated from a task.
        if let (Some(host), Ok(rt)) = (self.pool.upgrade(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move { host.closed() });
        }
    }
}

#[derive(Debug)]
struct Idle {
    conn: Conn1,
    since: Instant,
}

/// The HTTP/2 connection of a host.
#[derive(Debug)]
struct Conn2 {
    sender: Sender2,
    local: Option<SocketAddr>,
    created: Instant,
    served: u32,
    in_flight: Arc<AtomicUsize>,
    last_used: Instant,
}

/// One request's use of the HTTP/2 connection.
#[derive(Debug)]
struct Lease2 {
    sender: Sender2,
    local: Option<SocketAddr>,
    _in_flight: InFlight,
}

/// Counts a request on an HTTP/2 connection (for its idle timeout) until dropped.
#[derive(Debug)]
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn later(at: Instant, d: Option<Duration>) -> Option<Instant> {
    d.and_then(|d| at.checked_add(d))
}

impl HostPool {
    pub(super) fn new(addr: SocketAddr, cluster: &Cluster) -> Self {
        HostPool {
            addr,
            dial: Dial::of(cluster),
            limits: cluster.connection,
            breakers: cluster.breakers.clone(),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// No connection and no request: the pool can be dropped.
    pub(super) fn is_unused(&self) -> bool {
        let st = self.state();
        st.open == 0 && st.waiters1.is_empty() && st.waiters2.is_empty()
    }

    /// When a connection made at `created` must stop taking requests.
    fn retires_at(&self, created: Instant) -> Option<Instant> {
        later(created, self.limits.max_duration)
    }

    fn retired(&self, created: Instant, now: Instant) -> bool {
        self.retires_at(created).is_some_and(|at| at <= now)
    }

    /// When an idle HTTP/1.1 connection closes.
    fn idle_until(&self, i: &Idle) -> Option<Instant> {
        let idle = later(i.since, self.limits.idle_timeout);
        match (idle, self.retires_at(i.conn.created)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A permit for a new connection: under `max_connections`, or the host's first.
    fn connection_permit(&self, st: &State) -> Option<Permit> {
        self.breakers.connection().or_else(|| (st.open == 0).then(|| self.breakers.connection_anyway()))
    }

    // ---- HTTP/1.1 ----

    /// Sends one request over HTTP/1.1. A request that a reused connection could not even
    /// write (it closed meanwhile) goes once more on another connection.
    pub(super) async fn send_h1(
        self: &Arc<Self>,
        mut req: Request<UpstreamBody>,
        active: Option<ActiveGuard>,
    ) -> Result<Sent, Failure> {
        for _ in 0..2 {
            let mut conn = self.checkout_h1().await?;
            let Some(permit) = self.breakers.request() else {
                self.deliver_h1(conn);
                return Err(Failure::Overflow);
            };
            let reused = conn.served > 0;
            conn.served += 1;
            let local = conn.local;
            match conn.io.send(req).await {
                Ok(head) => {
                    let lease = Lease { conn, host: self.clone(), permit, active, keep_alive: head.keep_alive };
                    return Ok(respond(lease, head.parts, head.framing, local));
                }
                Err(SendError::NotSent(back)) if reused => req = back,
                Err(SendError::NotSent(_)) => return Err(Failure::UpstreamReset),
                Err(SendError::Failed(e)) => {
                    tracing::debug!("upstream exchange failed: {e}");
                    return Err(Failure::UpstreamReset);
                }
            }
        }
        Err(Failure::UpstreamReset)
    }

    pub(super) fn release_h1(self: &Arc<Self>, conn: Conn1) {
        let spent = self.limits.max_requests.is_some_and(|max| conn.served >= max);
        if spent || self.retired(conn.created, Instant::now()) {
            return; // dropping the sender closes the connection
        }
        self.deliver_h1(conn);
    }

    /// Hands a free connection to the oldest pending request, or keeps it idle.
    fn deliver_h1(self: &Arc<Self>, mut conn: Conn1) {
        let mut st = self.state();
        while let Some(tx) = st.waiters1.pop_front() {
            match tx.send(Ok(conn)) {
                Ok(()) => return,
                Err(Ok(back)) => conn = back,
                Err(Err(_)) => return,
            }
        }
        st.idle.push(Idle { conn, since: Instant::now() });
        self.reap_later(&mut st);
    }

    async fn checkout_h1(self: &Arc<Self>) -> Result<Conn1, Failure> {
        let (rx, _pending) = {
            let mut st = self.state();
            let now = Instant::now();
            while let Some(idle) = st.idle.pop() {
                let fresh = self.idle_until(&idle).is_none_or(|at| at > now);
                if fresh && idle.conn.io.is_usable() {
                    return Ok(idle.conn);
                }
            }
            let pending = self.breakers.pending().ok_or(Failure::Overflow)?;
            let (tx, rx) = oneshot::channel();
            st.waiters1.push_back(tx);
            self.grow_h1(&mut st);
            (rx, pending)
        };
        rx.await.unwrap_or(Err(Failure::UpstreamReset))
    }

    /// Opens a connection if pending requests outnumber the connections being opened.
    fn grow_h1(self: &Arc<Self>, st: &mut State) {
        st.waiters1.retain(|tx| !tx.is_closed());
        if st.waiters1.len() <= st.connecting1 {
            return;
        }
        let Some(permit) = self.connection_permit(st) else { return };
        st.connecting1 += 1;
        st.open += 1;
        tokio::spawn(connect(Arc::downgrade(self), self.addr, self.dial, permit, false));
    }

    // ---- HTTP/2 ----

    /// Sends one request over the host's HTTP/2 connection. The request counts against
    /// `max_requests` (and as active for least request) until its response headers arrive.
    pub(super) async fn send_h2(
        self: &Arc<Self>,
        req: Request<UpstreamBody>,
        _active: Option<ActiveGuard>,
    ) -> Result<Sent, Failure> {
        let mut lease = self.checkout_h2().await?;
        let _permit = self.breakers.request().ok_or(Failure::Overflow)?;
        let response = lease.sender.send_request(req).await.map_err(|e| classify(&e))?;
        Ok(Sent { response: response.map(ResponseBody::H2), local: lease.local, upgraded: None })
    }

    async fn checkout_h2(self: &Arc<Self>) -> Result<Lease2, Failure> {
        let (rx, _pending) = {
            let mut st = self.state();
            if let Some(lease) = self.lease_h2(&mut st) {
                return Ok(lease);
            }
            let pending = self.breakers.pending().ok_or(Failure::Overflow)?;
            let (tx, rx) = oneshot::channel();
            st.waiters2.push(tx);
            self.grow_h2(&mut st);
            (rx, pending)
        };
        rx.await.unwrap_or(Err(Failure::UpstreamReset))
    }

    /// A stream on the current HTTP/2 connection, if it takes one more.
    fn lease_h2(&self, st: &mut State) -> Option<Lease2> {
        let now = Instant::now();
        let usable = st.h2.as_ref().is_some_and(|c| !c.sender.is_closed() && !self.retired(c.created, now));
        if !usable {
            st.h2 = None;
            return None;
        }
        let c = st.h2.as_mut()?;
        c.served += 1;
        c.last_used = now;
        let lease = Lease2 { sender: c.sender.clone(), local: c.local, _in_flight: InFlight::new(&c.in_flight) };
        if self.limits.max_requests.is_some_and(|max| c.served >= max) {
            // Drained: its streams finish, new requests get a new connection.
            st.h2 = None;
        }
        Some(lease)
    }

    fn grow_h2(self: &Arc<Self>, st: &mut State) {
        st.waiters2.retain(|tx| !tx.is_closed());
        if st.waiters2.is_empty() || st.connecting2 {
            return;
        }
        let Some(permit) = self.connection_permit(st) else { return };
        st.connecting2 = true;
        st.open += 1;
        tokio::spawn(connect(Arc::downgrade(self), self.addr, self.dial, permit, true));
    }

    fn deliver_h2(self: &Arc<Self>, conn: Conn2) {
        let mut st = self.state();
        st.connecting2 = false;
        st.h2 = Some(conn);
        for tx in std::mem::take(&mut st.waiters2) {
            if tx.is_closed() {
                continue;
            }
            match self.lease_h2(&mut st) {
                Some(lease) => {
                    let _ = tx.send(Ok(lease));
                }
                None => st.waiters2.push(tx),
            }
        }
        self.grow_h2(&mut st);
        self.reap_later(&mut st);
    }

    // ---- both ----

    /// A connect failed: every pending request of that protocol fails with it.
    fn connect_failed(&self, failure: &Failure, h2: bool) {
        let mut st = self.state();
        st.open = st.open.saturating_sub(1);
        if h2 {
            st.connecting2 = false;
            for tx in std::mem::take(&mut st.waiters2) {
                let _ = tx.send(Err(failure.clone()));
            }
        } else {
            st.connecting1 = st.connecting1.saturating_sub(1);
            for tx in std::mem::take(&mut st.waiters1) {
                let _ = tx.send(Err(failure.clone()));
            }
        }
    }

    /// A connection closed: forget it, and open another if requests are waiting.
    fn closed(self: &Arc<Self>) {
        let mut st = self.state();
        st.open = st.open.saturating_sub(1);
        st.idle.retain(|i| i.conn.io.is_usable());
        if st.h2.as_ref().is_some_and(|c| c.sender.is_closed()) {
            st.h2 = None;
        }
        self.grow_h1(&mut st);
        self.grow_h2(&mut st);
    }

    /// Starts the task that closes idle and retired connections, unless it runs.
    fn reap_later(self: &Arc<Self>, st: &mut State) {
        if st.reaping || (self.limits.idle_timeout.is_none() && self.limits.max_duration.is_none()) {
            return;
        }
        st.reaping = true;
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let next = match weak.upgrade() {
                    Some(host) => host.reap(Instant::now()),
                    None => return,
                };
                match next {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => return,
                }
            }
        });
    }

    /// Closes what is due; returns when to look again (None: nothing left to watch).
    fn reap(&self, now: Instant) -> Option<Instant> {
        let mut st = self.state();
        st.idle.retain(|i| self.idle_until(i).is_none_or(|at| at > now) && i.conn.io.is_usable());
        let mut next = st.idle.iter().filter_map(|i| self.idle_until(i)).min();
        if let Some(c) = &st.h2 {
            let idle = c.in_flight.load(Ordering::Acquire) == 0;
            let idle_at = if idle { later(c.last_used, self.limits.idle_timeout) } else { None };
            let due = [idle_at, self.retires_at(c.created)].into_iter().flatten().min();
            if due.is_some_and(|at| at <= now) {
                st.h2 = None;
            } else {
                // Busy connections are looked at again an idle timeout later.
                let again = due.or_else(|| later(now, self.limits.idle_timeout));
                next = [next, again].into_iter().flatten().min();
            }
        }
        if next.is_none() {
            st.reaping = false;
        }
        next
    }
}

/// The response of an HTTP/1.1 exchange; after `101` the connection leaves the pool as the
/// upstream side of the tunnel, holding what the exchange held.
fn respond(lease: Lease, parts: http::response::Parts, framing: Framing, local: Option<SocketAddr>) -> Sent {
    if framing != Framing::Upgrade {
        let response = http::Response::from_parts(parts, ResponseBody::H1(H1Body::new(lease, framing)));
        return Sent { response, local, upgraded: None };
    }
    let Lease { conn, permit, active, .. } = lease;
    let Conn1 { io: Connection { io, buf }, _open, .. } = conn;
    let upgraded = Upgraded { io, leftover: buf.freeze(), _held: Box::new((_open, permit, active)) };
    let response = http::Response::from_parts(parts, ResponseBody::H1(H1Body::ended()));
    Sent { response, local, upgraded: Some(upgraded) }
}

/// Opens one connection to `addr` and hands it to the pool (or its failure to the pending
/// requests). The connection holds the circuit-breaker `permit` until it closes.
async fn connect(pool: Weak<HostPool>, addr: SocketAddr, dial: Dial, permit: Permit, h2: bool) {
    let result = match dial.connect(addr).await {
        Ok(stream) if h2 => handshake_h2(stream, pool.clone(), permit).await,
        Ok(stream) => {
            let local = stream.local_addr().ok();
            let _open = Open { _permit: permit, pool: pool.clone() };
            let io = Connection::new(stream);
            Ok(Handshaken::H1(Conn1 { io, local, created: Instant::now(), served: 0, _open }))
        }
        Err(f) => Err(f),
    };
    let Some(host) = pool.upgrade() else { return };
    match result {
        Ok(Handshaken::H1(conn)) => {
            {
                let mut st = host.state();
                st.connecting1 = st.connecting1.saturating_sub(1);
            }
            host.deliver_h1(conn);
        }
        Ok(Handshaken::H2(sender, local)) => {
            let now = Instant::now();
            let in_flight = Arc::new(AtomicUsize::new(0));
            host.deliver_h2(Conn2 { sender, local, created: now, served: 0, in_flight, last_used: now });
        }
        Err(f) => host.connect_failed(&f, h2),
    }
}

enum Handshaken {
    H1(Conn1),
    H2(Sender2, Option<SocketAddr>),
}

/// The HTTP/2 handshake; spawns the connection's driver, which owns `permit` and tells the
/// pool when the connection closes.
async fn handshake_h2(
    stream: tokio::net::TcpStream,
    pool: Weak<HostPool>,
    permit: Permit,
) -> Result<Handshaken, Failure> {
    let local = stream.local_addr().ok();
    let io = TokioIo::new(stream);
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder.timer(TokioTimer::new());
    let (sender, conn) = builder.handshake(io).await.map_err(|e| classify(&e))?;
    tokio::spawn(async move {
        let _ = conn.await;
        drop(permit);
        if let Some(host) = pool.upgrade() {
            host.closed();
        }
    });
    Ok(Handshaken::H2(sender, local))
}
