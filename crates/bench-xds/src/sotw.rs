//! One State-of-the-World ADS client behaving like a sidecar: wildcard CDS and LDS, then EDS
//! for the EDS clusters and RDS for the route names it finds, ACKing every response.

use crate::names::{self, CDS, Cache, EDS, LDS, RDS};
use crate::{Event, EventTx};
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use std::collections::{BTreeSet, HashMap};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Channel;

#[derive(Default)]
struct Watch {
    names: Vec<String>,
    version: String,
    nonce: String,
    acked: bool,
    /// A subscription change is waiting for its response.
    pending: bool,
}

fn request(type_url: &str, w: &Watch, node: Option<Node>) -> DiscoveryRequest {
    DiscoveryRequest {
        node,
        type_url: type_url.to_string(),
        version_info: w.version.clone(),
        response_nonce: w.nonce.clone(),
        resource_names: w.names.clone(),
        ..DiscoveryRequest::default()
    }
}

/// Runs client `id` until the stream ends.
pub async fn run(id: usize, channel: Channel, node: Node, cache: &Cache, events: EventTx) -> Result<(), String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watches: HashMap<&'static str, Watch> = [CDS, EDS, LDS, RDS].map(|t| (t, Watch::default())).into();
    let send = |r: DiscoveryRequest| tx.send(r).map_err(|e| e.to_string());
    send(request(CDS, &watches[CDS], Some(node)))?;
    send(request(LDS, &watches[LDS], None))?;
    let mut client = AggregatedDiscoveryServiceClient::new(channel).max_decoding_message_size(usize::MAX);
    let mut stream = client
        .stream_aggregated_resources(UnboundedReceiverStream::new(rx))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    let mut synced = false;
    while let Some(resp) = stream.message().await.map_err(|e| e.to_string())? {
        let ty = match resp.type_url.as_str() {
            CDS => CDS,
            EDS => EDS,
            LDS => LDS,
            RDS => RDS,
            other => return Err(format!("unexpected type {other}")),
        };
        let follow = follow_up(ty, &resp, cache);
        let w = watches.entry(ty).or_default();
        (w.version, w.nonce, w.acked, w.pending) = (resp.version_info.clone(), resp.nonce.clone(), true, false);
        send(request(ty, w, None))?;
        let _ = events.send(Event::Acked(id, resp.version_info.parse().unwrap_or_default()));
        if let Some((next, wanted)) = follow {
            let w = watches.entry(next).or_default();
            let wanted: Vec<String> = wanted.iter().cloned().collect();
            if !wanted.is_empty() && wanted != w.names {
                (w.names, w.pending) = (wanted, true);
                send(request(next, w, None))?;
            }
        }
        if !synced && watches.values().all(|w| !w.pending) && [CDS, LDS].iter().all(|t| watches[t].acked) {
            synced = true;
            let _ = events.send(Event::Synced(id));
        }
    }
    Ok(())
}

/// For CDS and LDS: the type to subscribe to next and the names wanted.
fn follow_up(ty: &str, resp: &DiscoveryResponse, cache: &Cache) -> Option<(&'static str, names::Names)> {
    let next = match ty {
        CDS => EDS,
        LDS => RDS,
        _ => return None,
    };
    // Every client of this benchmark is an equivalent sidecar, so (type, version, count)
    // identifies the content.
    let key = format!("sotw {ty} {} {}", resp.version_info, resp.resources.len());
    let wanted = cache.get(key, || resp.resources.iter().flat_map(names::derived).collect::<BTreeSet<_>>());
    Some((next, wanted))
}
