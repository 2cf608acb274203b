//! Delta (incremental) ADS: wildcard subscriptions to clusters and listeners, named
//! subscriptions to the endpoints, route configs and SDS secrets they reference, kept in step after
//! every applied response (subscribe what is new, unsubscribe what is gone). A reconnect
//! sends the versions already held, so the server resends only what changed.

use super::{AdsClient, CLUSTER, Failure, Handler, LISTENER, NAMED, Named, Update, nack_status};
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DeltaDiscoveryResponse};
use std::collections::{BTreeSet, HashMap};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

type Tx = mpsc::Sender<DeltaDiscoveryRequest>;

/// Runs one Delta stream until it ends.
pub(super) async fn stream(mut client: AdsClient, node: &Node, handler: &dyn Handler) -> Result<(), Failure> {
    let (tx, rx) = mpsc::channel(64);
    let mut subscribed: HashMap<&'static str, BTreeSet<String>> = HashMap::new();
    for (i, ty) in [CLUSTER, LISTENER].into_iter().enumerate() {
        let req = DeltaDiscoveryRequest {
            node: (i == 0).then(|| node.clone()),
            type_url: ty.to_string(),
            initial_resource_versions: handler.versions(ty),
            ..Default::default()
        };
        send(&tx, req).await;
    }
    resubscribe(&tx, handler, &mut subscribed, true).await;
    let mut responses = client
        .delta_aggregated_resources(ReceiverStream::new(rx))
        .await
        .map_err(|status| Failure { progressed: false, status })?
        .into_inner();
    handler.connected(true);
    let mut progressed = false;
    loop {
        let response = match responses.message().await {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(status) => return Err(Failure { progressed, status }),
        };
        progressed = true;
        let ty = response.type_url.clone();
        let nonce = response.nonce.clone();
        let result = handler.apply(&ty, update(response));
        if let Err(message) = &result {
            tracing::warn!(r#type = %ty, "NACK: {message}");
        }
        let ack = DeltaDiscoveryRequest {
            type_url: ty,
            response_nonce: nonce,
            error_detail: result.err().map(|m| nack_status(&m)),
            ..Default::default()
        };
        send(&tx, ack).await;
        resubscribe(&tx, handler, &mut subscribed, false).await;
    }
}

fn update(r: DeltaDiscoveryResponse) -> Update {
    let resources = r
        .resources
        .into_iter()
        .filter_map(|res| {
            let any = res.resource?;
            Some(Named { name: res.name, version: res.version, any })
        })
        .collect();
    Update { resources, removed: r.removed_resources, full_state: false }
}

/// Sends subscription changes for EDS, RDS and SDS (the first request of a type carries the
/// versions held, for reconnects).
async fn resubscribe(
    tx: &Tx,
    handler: &dyn Handler,
    subscribed: &mut HashMap<&'static str, BTreeSet<String>>,
    first: bool,
) {
    for ty in NAMED {
        let wanted = handler.wanted(ty);
        let had = subscribed.entry(ty).or_default();
        let add: Vec<String> = wanted.difference(had).cloned().collect();
        let remove: Vec<String> = had.difference(&wanted).cloned().collect();
        if add.is_empty() && remove.is_empty() {
            continue;
        }
        let never_sent = had.is_empty();
        *had = wanted;
        if !remove.is_empty() {
            // Forget what we no longer subscribe to; the server forgets it too.
            let _ = handler.apply(ty, Update { removed: remove.clone(), ..Default::default() });
        }
        let versions = if first || never_sent { handler.versions(ty) } else { HashMap::new() };
        let req = DeltaDiscoveryRequest {
            type_url: ty.to_string(),
            resource_names_subscribe: add,
            resource_names_unsubscribe: remove,
            initial_resource_versions: versions,
            ..Default::default()
        };
        send(tx, req).await;
    }
}

async fn send(tx: &Tx, req: DeltaDiscoveryRequest) {
    // The receiver lives as long as the stream; a send error means the stream is gone and the
    // response loop will see it end.
    let _ = tx.send(req).await;
}
