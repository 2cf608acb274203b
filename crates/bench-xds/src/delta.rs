//! One Delta (incremental) ADS client behaving like a sidecar: wildcard CDS and LDS, then
//! EDS and RDS subscriptions kept equal to the names the known clusters and listeners need,
//! ACKing every response.

use crate::names::{self, CDS, Cache, EDS, LDS, RDS};
use crate::{Event, EventTx};
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DeltaDiscoveryResponse};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Channel;

#[derive(Default)]
struct Watch {
    /// For CDS/LDS: known resource → names it needs.
    known: BTreeMap<String, names::Names>,
    subscribed: BTreeSet<String>,
    acked: bool,
    pending: bool,
}

fn request(type_url: &str, node: Option<Node>) -> DeltaDiscoveryRequest {
    DeltaDiscoveryRequest { node, type_url: type_url.to_string(), ..DeltaDiscoveryRequest::default() }
}

/// Runs client `id` until the stream ends.
pub async fn run(id: usize, channel: Channel, node: Node, cache: &Cache, events: EventTx) -> Result<(), String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let send = |r: DeltaDiscoveryRequest| tx.send(r).map_err(|e| e.to_string());
    send(request(CDS, Some(node)))?;
    send(request(LDS, None))?;
    let mut watches: HashMap<&'static str, Watch> = [CDS, EDS, LDS, RDS].map(|t| (t, Watch::default())).into();
    let mut client = AggregatedDiscoveryServiceClient::new(channel).max_decoding_message_size(usize::MAX);
    let mut stream = client
        .delta_aggregated_resources(UnboundedReceiverStream::new(rx))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    let mut synced = false;
    while let Some(resp) = stream.message().await.map_err(|e| e.to_string())? {
        let (ty, next) = match resp.type_url.as_str() {
            CDS => (CDS, Some(EDS)),
            LDS => (LDS, Some(RDS)),
            EDS => (EDS, None),
            RDS => (RDS, None),
            other => return Err(format!("unexpected type {other}")),
        };
        let w = watches.entry(ty).or_default();
        learn(ty, w, &resp, cache);
        (w.acked, w.pending) = (true, false);
        send(DeltaDiscoveryRequest { response_nonce: resp.nonce.clone(), ..request(ty, None) })?;
        let _ = events.send(Event::Acked(id, resp.system_version_info.parse().unwrap_or_default()));
        if let Some(next) = next {
            let wanted: BTreeSet<String> = watches[ty].known.values().flat_map(|n| n.iter().cloned()).collect();
            let w = watches.entry(next).or_default();
            let subscribe: Vec<String> = wanted.difference(&w.subscribed).cloned().collect();
            let unsubscribe: Vec<String> = w.subscribed.difference(&wanted).cloned().collect();
            if !subscribe.is_empty() || !unsubscribe.is_empty() {
                w.pending |= !subscribe.is_empty();
                w.subscribed = wanted;
                send(DeltaDiscoveryRequest {
                    resource_names_subscribe: subscribe,
                    resource_names_unsubscribe: unsubscribe,
                    ..request(next, None)
                })?;
            }
        }
        if !synced && watches.values().all(|w| !w.pending) && [CDS, LDS].iter().all(|t| watches[t].acked) {
            synced = true;
            let _ = events.send(Event::Synced(id));
        }
    }
    Ok(())
}

/// Records what a CDS or LDS response adds and removes (per-resource versions are content
/// hashes, so they key the cache).
fn learn(ty: &str, w: &mut Watch, resp: &DeltaDiscoveryResponse, cache: &Cache) {
    if ty != CDS && ty != LDS {
        return;
    }
    for r in &resp.resources {
        let Some(any) = &r.resource else { continue };
        let needs = cache.get(format!("delta {ty} {} {}", r.name, r.version), || names::derived(any));
        w.known.insert(r.name.clone(), needs);
    }
    for n in &resp.removed_resources {
        w.known.remove(n);
    }
}
