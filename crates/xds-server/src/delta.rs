//! Delta (incremental) ADS: the proxy subscribes to names (or to everything, for CDS/LDS
//! wildcard), and each response carries only resources that changed plus the names removed.
//! Per-resource versions are content hashes, so an unchanged resource is never resent.

use crate::resources::{self, Packed, PackedSnapshot};
use crate::{Published, Shared};
use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DeltaDiscoveryResponse, Resource};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use strait_registry::Proxy;
use tokio::sync::mpsc;
use tonic::{Status, Streaming};

#[derive(Default)]
struct Watch {
    wildcard: bool,
    names: BTreeSet<String>,
    /// What the proxy has: name → content hash.
    sent: BTreeMap<String, u64>,
    nonce: String,
    pending_since: Option<u64>,
}

struct Conn {
    id: u64,
    /// Registry version current when the proxy connected: only later changes count as
    /// convergence (the initial sync is not a config change).
    connected_at_version: u64,
    proxy: Proxy,
    watches: HashMap<String, Watch>,
    nonce: u64,
}

type Tx = mpsc::Sender<Result<DeltaDiscoveryResponse, Status>>;

/// Serves one Delta stream until the proxy goes away.
pub async fn serve(shared: Arc<Shared>, mut requests: Streaming<DeltaDiscoveryRequest>, tx: Tx) {
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
                _ => break,
            },
            changed = registry.changed() => {
                if changed.is_err() { break; }
                if let Some(c) = conn.as_mut() {
                    let published = registry.borrow_and_update().clone();
                    // One generation per change, shared by every type.
                    let snap = shared.generate(&published, &c.proxy).await;
                    for ty in resources::ORDER {
                        if c.watches.contains_key(ty) {
                            push(&shared, c, &published, &snap, ty, &tx).await;
                        }
                    }
                }
            }
        }
    }
    if let Some(c) = conn {
        shared.status.disconnect(c.id);
    }
}

async fn on_request(
    shared: &Shared,
    conn: &mut Option<Conn>,
    req: DeltaDiscoveryRequest,
    tx: &Tx,
) -> Result<(), String> {
    if conn.is_none() {
        let a = crate::node::accept(shared, req.node.as_ref(), "delta")?;
        *conn =
            Some(Conn { id: a.id, connected_at_version: a.version, proxy: a.proxy, watches: HashMap::new(), nonce: 0 });
    }
    let Some(c) = conn.as_mut() else { return Ok(()) };
    let ty = resources::short(&req.type_url);
    let published = shared.registry.borrow().clone();
    let is_new = !c.watches.contains_key(&req.type_url);
    let watch = c.watches.entry(req.type_url.clone()).or_default();
    if !req.response_nonce.is_empty() && req.response_nonce == watch.nonce {
        if let Some(err) = &req.error_detail {
            tracing::warn!(proxy = %c.proxy.id, r#type = ty, "NACK: {}", err.message);
            shared.status.nacked(c.id, ty, &err.message);
        } else {
            // The proxy ACKs what the nonce carried: the version sent, which is older than the
            // published one when later versions did not change this type (else it stays STALE).
            let sent = watch.pending_since.take();
            let convergence = sent
                .filter(|v| *v == published.version && *v > c.connected_at_version)
                .map(|_| published.changed_at.elapsed());
            shared.status.acked(c.id, ty, &sent.unwrap_or(published.version).to_string(), convergence);
        }
    }
    if is_new {
        // An empty first subscription (or "*") is a wildcard, as for SotW CDS/LDS; secrets
        // (key material) go only to who names them.
        watch.wildcard = req.type_url != resources::SECRET
            && (req.resource_names_subscribe.is_empty() || req.resource_names_subscribe.iter().any(|n| n == "*"));
        for (name, version) in &req.initial_resource_versions {
            watch.sent.insert(name.clone(), version.parse().unwrap_or_default());
        }
    }
    let mut changed = is_new;
    for n in req.resource_names_subscribe.iter().filter(|n| *n != "*") {
        changed |= watch.names.insert(n.clone());
    }
    for n in &req.resource_names_unsubscribe {
        watch.names.remove(n);
        watch.sent.remove(n);
    }
    if changed {
        let snap = shared.generate(&published, &c.proxy).await;
        push(shared, c, &published, &snap, &req.type_url, tx).await;
    }
    Ok(())
}

/// Sends what changed for `type_url` since the proxy's last known state.
async fn push(shared: &Shared, c: &mut Conn, published: &Published, snap: &PackedSnapshot, type_url: &str, tx: &Tx) {
    let empty = BTreeMap::new();
    let all: &BTreeMap<String, Packed> = snap.get(type_url).unwrap_or(&empty);
    let Some(watch) = c.watches.get_mut(type_url) else { return };
    let wanted = |n: &String| watch.wildcard || watch.names.contains(n);
    let updated: Vec<Resource> = all
        .iter()
        .filter(|(n, p)| wanted(n) && watch.sent.get(*n) != Some(&p.hash))
        .map(|(n, p)| Resource {
            name: n.clone(),
            version: p.hash.to_string(),
            resource: Some(p.any.clone()),
            ..Resource::default()
        })
        .collect();
    let removed: Vec<String> = watch.sent.keys().filter(|n| !all.contains_key(*n)).cloned().collect();
    if updated.is_empty() && removed.is_empty() {
        if watch.nonce.is_empty() {
            // First request for the type and the proxy already has everything (a reconnect).
            shared.status.current(c.id, resources::short(type_url), &published.version.to_string());
        }
        return;
    }
    for r in &updated {
        watch.sent.insert(r.name.clone(), r.version.parse().unwrap_or_default());
    }
    for n in &removed {
        watch.sent.remove(n);
    }
    c.nonce += 1;
    watch.nonce = c.nonce.to_string();
    watch.pending_since = Some(published.version);
    let response = DeltaDiscoveryResponse {
        system_version_info: published.version.to_string(),
        resources: updated,
        removed_resources: removed,
        type_url: type_url.to_string(),
        nonce: c.nonce.to_string(),
        ..DeltaDiscoveryResponse::default()
    };
    shared.status.sent(c.id, resources::short(type_url), &published.version.to_string());
    // Envoy warms a changed EDS cluster until it receives its ClusterLoadAssignment again, even
    // an unchanged one (istiod pushes EDS after CDS): the EDS push that follows must resend it.
    if type_url == resources::CLUSTER
        && let Some(eds) = c.watches.get_mut(resources::ENDPOINT)
    {
        for r in &response.resources {
            eds.sent.remove(&r.name);
        }
    }
    let _ = tx.send(Ok(response)).await;
}
