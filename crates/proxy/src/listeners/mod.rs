//! Listeners: binds the sockets the config asks for (listeners with `bind_to_port: false` are
//! not bound: they are reached through `use_original_dst` hand-offs) and keeps them in step
//! with it. Each bound listener runs an accept loop that, per connection, looks up its
//! compiled listener in the current config (by name) and takes the connection through
//! original-destination restore, listener filters, hand-off and filter chain selection
//! ([`accept`]; the inspectors are [`inspect`] over [`sniff`]) to the HTTP server or the TCP
//! proxy. Sockets are bound without SO_REUSEPORT, so a second proxy on the same address
//! fails loudly: the bind error becomes the LDS NACK, as with Envoy.
//!
//! Out of file descriptors (EMFILE/ENFILE), an accept loop sheds load instead of spinning or
//! dying: it gives up the spare descriptor held for the purpose, accepts the waiting connection
//! and closes it at once (the client sees a refusal, not a hang), takes the spare back and
//! backs off briefly, so the proxy serves again as soon as descriptors are free. While the
//! proxy drains ([`drain`]) accept loops close their sockets and no new listener is bound.

pub mod accept;
pub mod drain;
pub mod inspect;
#[cfg(test)]
#[path = "size_tests.rs"]
mod size_tests;
pub mod sniff;

use crate::config::Listener;
use crate::state::Shared;
use arc_swap::ArcSwap;
use socket2::{Domain, Socket, Type};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A running accept loop.
#[derive(Debug)]
struct Running {
    address: SocketAddr,
    stop: watch::Sender<bool>,
}

/// The bound listeners.
#[derive(Debug, Default)]
pub struct Manager {
    running: Mutex<HashMap<String, Running>>,
    /// Listener names by address, for `use_original_dst` hand-offs (bound or not).
    index: Arc<ArcSwap<accept::Index>>,
}

impl Manager {
    /// Makes the bound listeners match `wanted`: closes removed ones (and ones whose address
    /// changed), then binds new ones. A bind failure is an error naming the listener and
    /// address; listeners bound before it keep running.
    pub fn reconcile(&self, wanted: &BTreeMap<String, Arc<Listener>>, shared: &Arc<Shared>) -> Result<(), String> {
        let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.index.store(Arc::new(accept::index(wanted)));
        running.retain(|name, r| {
            let keep = wanted.get(name).is_some_and(|l| l.bind_to_port && l.address == r.address);
            if !keep {
                tracing::info!(listener = %name, address = %r.address, "listener closed");
                let _ = r.stop.send(true);
            }
            keep
        });
        let mut errors = Vec::new();
        for (name, l) in wanted {
            if !l.bind_to_port || running.contains_key(name) || shared.drain.is_draining() {
                continue;
            }
            match bind(l.address) {
                Ok(socket) => {
                    let (stop, stopped) = watch::channel(false);
                    let at = Loop { name: name.as_str().into(), shared: shared.clone(), index: self.index.clone() };
                    tokio::spawn(accept_loop(socket, at, stopped));
                    tracing::info!(listener = %name, address = %l.address, "listener bound");
                    running.insert(name.clone(), Running { address: l.address, stop });
                }
                Err(e) => errors.push(format!("Listener {name}: cannot bind to {}: {e}", l.address)),
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }
}

/// Binds `address` (SO_REUSEADDR, no SO_REUSEPORT, backlog 1024).
fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// What an accept loop hands each connection.
struct Loop {
    name: Arc<str>,
    shared: Arc<Shared>,
    index: Arc<ArcSwap<accept::Index>>,
}

async fn accept_loop(socket: TcpListener, at: Loop, mut stop: watch::Receiver<bool>) {
    let Loop { name, shared, index } = &at;
    let draining = shared.drain.started();
    tokio::pin!(draining);
    let mut shedder = Shedder::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            () = &mut draining => {
                tracing::info!(listener = %name, "listener closed for drain");
                return;
            }
            a = socket.accept() => a,
        };
        match accepted {
            Ok((stream, remote)) => {
                let tracked = shared.drain.track();
                let accepted = accept::Accepted { stream, remote, listener: name.clone(), tracked };
                tokio::spawn(accept::serve(accepted, shared.clone(), index.clone()));
            }
            Err(e) if is_out_of_descriptors(&e) => shedder.shed(&socket, name).await,
            Err(e) => {
                // A transient error (the peer reset before accept, …): back off instead of spinning.
                tracing::debug!(listener = %name, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// The one descriptor the process holds back so that, out of descriptors, an accept loop can
/// still take a waiting connection off the queue and close it (opened with the first listener,
/// while descriptors are still free).
static SPARE: std::sync::LazyLock<Mutex<Option<std::fs::File>>> =
    std::sync::LazyLock::new(|| Mutex::new(std::fs::File::open("/dev/null").ok()));

/// One accept loop's load shedding, with its rate-limited warning.
struct Shedder {
    last_warning: Option<std::time::Instant>,
    refused: u64,
}

impl Shedder {
    fn new() -> Self {
        std::sync::LazyLock::force(&SPARE);
        Shedder { last_warning: None, refused: 0 }
    }

    /// Refuses one waiting connection if the spare allows (no back-off then: the next
    /// accept takes the next one, or finds descriptors free again); otherwise backs off.
    async fn shed(&mut self, socket: &TcpListener, name: &str) {
        let refused = {
            let mut spare = SPARE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let had = spare.take().is_some();
            // Ready at once (a connection is waiting); it is closed as soon as it is dropped.
            let accepted = had && matches!(now_or_never(socket.accept()), Some(Ok(_)));
            *spare = std::fs::File::open("/dev/null").ok();
            accepted
        };
        self.refused += u64::from(refused);
        let now = std::time::Instant::now();
        if self.last_warning.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            tracing::warn!(listener = %name, refused = self.refused, "out of file descriptors: refusing connections");
            self.last_warning = Some(now);
        }
        if !refused {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Polls `f` once (a waiting connection makes `accept` ready at once).
fn now_or_never<F: Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}
