//! Listeners: binds the sockets the config asks for and keeps them in step with it. Each
//! bound listener runs an accept loop that, per connection, looks up its compiled listener
//! in the current config (by name) and hands the connection to the HTTP server or the TCP
//! proxy. Explicit binds only (capture-free proxies; original-destination capture comes
//! later). Sockets are bound without SO_REUSEPORT, so a second proxy on the same address
//! fails loudly: the bind error becomes the LDS NACK, as with Envoy.

use crate::config::Listener;
use crate::config::listener::ListenerKind;
use crate::http::proxy::Conn;
use crate::state::Shared;
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
}

impl Manager {
    /// Makes the bound listeners match `wanted`: closes removed ones (and ones whose address
    /// changed), then binds new ones. A bind failure is an error naming the listener and
    /// address; listeners bound before it keep running.
    pub fn reconcile(&self, wanted: &BTreeMap<String, Arc<Listener>>, shared: &Arc<Shared>) -> Result<(), String> {
        let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        running.retain(|name, r| {
            let keep = wanted.get(name).is_some_and(|l| l.address == r.address);
            if !keep {
                tracing::info!(listener = %name, address = %r.address, "listener closed");
                let _ = r.stop.send(true);
            }
            keep
        });
        let mut errors = Vec::new();
        for (name, l) in wanted {
            if running.contains_key(name) {
                continue;
            }
            match bind(l.address) {
                Ok(socket) => {
                    let (stop, stopped) = watch::channel(false);
                    tokio::spawn(accept_loop(socket, name.clone(), shared.clone(), stopped));
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

async fn accept_loop(socket: TcpListener, name: String, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            a = socket.accept() => a,
        };
        let (stream, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors (or a transient error): back off instead of spinning.
                tracing::warn!(listener = %name, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let config = shared.config.load();
        let Some(listener) = config.listeners.get(&name) else { continue };
        let local = stream.local_addr().unwrap_or(listener.address);
        match &listener.kind {
            ListenerKind::Http(hcm) => {
                let conn = Conn { hcm: hcm.clone(), local, remote };
                tokio::spawn(crate::http::serve(stream, conn, shared.clone()));
            }
            ListenerKind::Tcp(proxy) => {
                tokio::spawn(crate::tcp::serve(stream, proxy.clone(), local, remote, shared.clone()));
            }
        }
    }
}
