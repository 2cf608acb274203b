//! State-of-the-World ADS: each response carries every resource of its type (CDS, LDS) or every
//! requested one (EDS, RDS, SDS). A request echoing our last nonce is an ACK, or a NACK when it
//! carries `error_detail`; requests with an older nonce are stale and ignored.

use crate::resources::{self, Packed, PackedSnapshot};
use crate::{Published, Shared};
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use strait_registry::Proxy;
use tokio::sync::mpsc;
use tonic::{Status, Streaming};

#[derive(Default)]
struct Watch {
    names: Vec<String>,
    nonce: String,
    version: String,
    hash: Option<u64>,
    /// The published version whose change is still waiting for this type's ACK.
    pending_since: Option<u64>,
}

struct Conn {
    id: u64,
    /// Registry version current when the proxy connected: only later changes count as
    /// convergence (the initial sync is not a config change).
    connected_at_version: u64,
    proxy: Proxy,
    watches: HashMap<String, Watch>,
    snapshot: Option<(u64, PackedSnapshot)>,
    nonce: u64,
}

type Tx = mpsc::Sender<Result<DiscoveryResponse, Status>>;

/// Serves one SotW stream until the proxy goes away.
pub async fn serve(shared: Arc<Shared>, mut requests: Streaming<DiscoveryRequest>, tx: Tx) {
    let mut registry = shared.registry.clone();
    let mut conn: Option<Conn> = None;
    loop {
        tokio::select! {
            req = requests.next() => match req {
                Some(Ok(req)) => {
                    if let Err(e) = on_request(&shared, &mut conn, req, &tx).await {
                        let _ = tx.send(Err(Status::invalid_argument(e))).await;
                        break;
                    }
                }
                Some(Err(e)) => { tracing::debug!("ADS stream error: {e}"); break; }
                None => break,
            },
            changed = registry.changed() => {
                if changed.is_err() { break; }
                if let Some(c) = conn.as_mut() {
                    let published = registry.borrow_and_update().clone();
                    push_all(&shared, c, &published, &tx).await;
                }
            }
        }
    }
    if let Some(c) = conn {
        shared.status.disconnect(c.id);
    }
}

async fn on_request(shared: &Shared, conn: &mut Option<Conn>, req: DiscoveryRequest, tx: &Tx) -> Result<(), String> {
    if conn.is_none() {
        let a = crate::node::accept(shared, req.node.as_ref(), "sotw")?;
        *conn = Some(Conn {
            id: a.id,
            connected_at_version: a.version,
            proxy: a.proxy,
            watches: HashMap::new(),
            snapshot: None,
            nonce: 0,
        });
    }
    let Some(c) = conn.as_mut() else { return Ok(()) };
    let ty = resources::short(&req.type_url);
    let published = shared.registry.borrow().clone();
    let watch = c.watches.entry(req.type_url.clone()).or_default();
    if !req.response_nonce.is_empty() {
        if req.response_nonce != watch.nonce {
            return Ok(()); // stale: answers an older response
        }
        if let Some(err) = &req.error_detail {
            tracing::warn!(proxy = %c.proxy.id, r#type = ty, version = %watch.version, "NACK: {}", err.message);
            shared.status.nacked(c.id, ty, &err.message);
            return Ok(());
        }
        let convergence = watch
            .pending_since
            .take()
            .filter(|v| *v == published.version && *v > c.connected_at_version)
            .map(|_| published.changed_at.elapsed());
        shared.status.acked(c.id, ty, &req.version_info, convergence);
        if req.resource_names == watch.names {
            release_when_synced(c);
            return Ok(());
        }
    }
    watch.names = req.resource_names.clone();
    watch.hash = None;
    push(shared, c, &published, &req.type_url, tx).await;
    // A (re)subscription with nothing new to send can complete the sync, too.
    release_when_synced(c);
    Ok(())
}

/// Makes sure the stream holds the packed snapshot of `published` (one generation serves
/// every type it pushes for that version).
async fn ensure_snapshot(shared: &Shared, c: &mut Conn, published: &Arc<Published>) {
    if c.snapshot.as_ref().is_none_or(|(v, _)| *v != published.version) {
        c.snapshot = None;
        let packed = shared.generate(published, &c.proxy).await;
        c.snapshot = Some((published.version, packed));
    }
}

async fn push_all(shared: &Shared, c: &mut Conn, published: &Arc<Published>, tx: &Tx) {
    // Resources encode deterministically (see strait_xds::any), so `push`'s per-type hash of
    // what was last sent is enough to skip types whose resources did not change.
    for ty in resources::ORDER {
        if c.watches.contains_key(ty) {
            push(shared, c, published, ty, tx).await;
        }
    }
}

/// Frees the generated snapshot once the proxy has ACKed every type (SDS if it asked): in
/// steady state a stream keeps only names and hashes, not a copy of its config (memory grows
/// with proxies × services otherwise). The next change or request generates afresh.
fn release_when_synced(c: &mut Conn) {
    // SDS is asked for only by proxies with credentials: not watching it counts as synced.
    let synced = resources::ORDER.iter().all(|ty| match c.watches.get(*ty) {
        Some(w) => w.pending_since.is_none(),
        None => *ty == resources::SECRET,
    });
    if synced {
        c.snapshot = None;
    }
}

/// Sends the current resources of `type_url` if they differ from what was last sent.
async fn push(shared: &Shared, c: &mut Conn, published: &Arc<Published>, type_url: &str, tx: &Tx) {
    ensure_snapshot(shared, c, published).await;
    let (Some(watch), Some((_, snap))) = (c.watches.get(type_url), c.snapshot.as_ref()) else { return };
    let empty = BTreeMap::new();
    let all = snap.get(type_url).unwrap_or(&empty);
    // No names means everything, except for secrets: those go only to who asks for them.
    let named = !watch.names.is_empty() || type_url == resources::SECRET;
    let chosen: BTreeMap<&String, &Packed> = if resources::is_named(type_url) && named {
        all.iter().filter(|(n, _)| watch.names.contains(n)).collect()
    } else {
        all.iter().collect()
    };
    let hash = resources::set_hash(chosen.iter().map(|(n, p)| (*n, *p)));
    if watch.hash == Some(hash) {
        return;
    }
    let chosen: Vec<_> = chosen.values().map(|p| p.any.clone()).collect();
    c.nonce += 1;
    let version = published.version.to_string();
    let response = DiscoveryResponse {
        version_info: version.clone(),
        resources: chosen,
        type_url: type_url.to_string(),
        nonce: c.nonce.to_string(),
        ..DiscoveryResponse::default()
    };
    if let Some(w) = c.watches.get_mut(type_url) {
        w.nonce = c.nonce.to_string();
        w.version = version.clone();
        w.hash = Some(hash);
        w.pending_since = Some(published.version);
    }
    shared.status.sent(c.id, resources::short(type_url), &version);
    let _ = tx.send(Ok(response)).await;
    // Envoy warms a changed EDS cluster until it receives its ClusterLoadAssignment again, even
    // an unchanged one (istiod pushes EDS after every CDS push): the EDS push that follows in
    // `push_all` must resend, or the proxy stays STALE.
    if type_url == resources::CLUSTER
        && let Some(w) = c.watches.get_mut(resources::ENDPOINT)
    {
        w.hash = None;
    }
}
