//! Graceful drain, as pilot-agent drives Envoy when a pod terminates: once [`Drain::start`]
//! is called (SIGTERM, or the admin API's `/drain_listeners`), accept loops close their
//! sockets so new connections are refused, HTTP connections finish the requests in flight and
//! close (HTTP/1 answers with `connection: close`, HTTP/2 sends GOAWAY), and the process waits
//! until every tracked connection has ended ([`Drain::idle`]) or the drain duration
//! (ProxyConfig `terminationDrainDuration`, 5 s by default) has passed. Readiness reports
//! `DRAINING` (503) from then on, as after the admin API's `/healthcheck/fail`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::{Notify, watch};

/// The proxy's drain state and its count of open downstream connections.
#[derive(Debug)]
pub struct Drain {
    started: watch::Sender<bool>,
    active: AtomicUsize,
    idle: Notify,
    health_failed: AtomicBool,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            started: watch::Sender::new(false),
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            health_failed: AtomicBool::new(false),
        }
    }
}

impl Drain {
    /// Starts draining (idempotent).
    pub fn start(&self) {
        if !self.started.send_replace(true) {
            tracing::info!(connections = self.active(), "draining: listeners closed, connections finishing");
        }
    }

    /// Fails (or, with false, restores) readiness: Envoy's `/healthcheck/fail` and `/ok`.
    pub fn fail_health(&self, failed: bool) {
        self.health_failed.store(failed, Ordering::Relaxed);
    }

    /// Whether readiness should report `DRAINING`.
    pub fn health_failed(&self) -> bool {
        self.health_failed.load(Ordering::Relaxed)
    }

    /// Whether draining has started.
    pub fn is_draining(&self) -> bool {
        *self.started.borrow()
    }

    /// Resolves once draining has started.
    pub fn started(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.started.subscribe();
        async move {
            let _ = rx.wait_for(|d| *d).await;
        }
    }

    /// Counts a connection as open until the returned token is dropped.
    pub fn track(self: &Arc<Self>) -> Tracked {
        self.active.fetch_add(1, Ordering::AcqRel);
        Tracked(self.clone())
    }

    /// Open downstream connections.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Resolves when no tracked connection is open.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registered before the check, so a last connection closing in between still wakes us.
            notified.as_mut().enable();
            if self.active() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Drains: starts, then waits until every connection has closed or `within` has passed.
pub async fn finish(drain: &Drain, within: std::time::Duration) {
    drain.fail_health(true);
    drain.start();
    let waited = std::time::Instant::now();
    match tokio::time::timeout(within, drain.idle()).await {
        Ok(()) => tracing::info!(after = ?waited.elapsed(), "drained: every connection closed"),
        Err(_) => tracing::warn!(open = drain.active(), "drain duration {within:?} passed: closing the rest"),
    }
}

/// The admin API's drain endpoints, as Envoy answers them: `/drain_listeners` closes every
/// listener (connections finish; readiness stays as it is), `/healthcheck/fail` and `/ok` turn
/// readiness to `DRAINING` and back. Envoy's `?inboundonly` needs listener directions the
/// config does not carry yet: refused rather than draining outbound traffic too.
pub fn admin(drain: &Drain, path: &str, query: &str) -> (http::StatusCode, &'static str) {
    match path {
        "/drain_listeners" if query.split('&').any(|p| p == "inboundonly") => {
            (http::StatusCode::NOT_IMPLEMENTED, "inboundonly is not supported\n")
        }
        "/drain_listeners" => {
            drain.start();
            (http::StatusCode::OK, "OK\n")
        }
        "/healthcheck/fail" | "/healthcheck/ok" => {
            drain.fail_health(path == "/healthcheck/fail");
            (http::StatusCode::OK, "OK\n")
        }
        _ => (http::StatusCode::NOT_FOUND, "invalid path\n"),
    }
}

/// An open downstream connection (see [`Drain::track`]).
#[derive(Debug)]
pub struct Tracked(Arc<Drain>);

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn idle_waits_for_the_last_connection() {
        let drain = Arc::new(Drain::default());
        let (a, b) = (drain.track(), drain.track());
        assert_eq!(drain.active(), 2);
        let started = drain.started();
        drain.start();
        tokio::time::timeout(Duration::from_secs(1), started).await.expect("started resolves");
        assert!(drain.is_draining());
        let closer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(a);
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(b);
        });
        tokio::time::timeout(Duration::from_secs(2), drain.idle()).await.expect("idle once both closed");
        assert_eq!(drain.active(), 0);
        let _ = closer.await;
    }
}
