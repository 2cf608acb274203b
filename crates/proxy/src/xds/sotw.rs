//! State-of-the-World ADS: each response carries every resource of its type (clusters,
//! listeners) or every subscribed one (endpoints, route configs). ACKs echo the response's
//! version and nonce; NACKs keep the last accepted version and carry the error. Subscription
//! changes for endpoints, route configs and SDS secrets are sent with the type's latest nonce (the
//! server ignores requests answering older responses).

use super::{AdsClient, CLUSTER, Failure, Handler, LISTENER, NAMED, Named, Update, nack_status};
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use std::collections::HashMap;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

type Tx = mpsc::Sender<DiscoveryRequest>;

/// Per type: what we last accepted and the latest nonce and names.
#[derive(Default)]
struct Watch {
    version: String,
    nonce: String,
    names: Option<Vec<String>>,
}

/// Runs one SotW stream until it ends.
pub(super) async fn stream(mut client: AdsClient, node: &Node, handler: &dyn Handler) -> Result<(), Failure> {
    let (tx, rx) = mpsc::channel(64);
    let mut watches: HashMap<String, Watch> = HashMap::new();
    for (i, ty) in [CLUSTER, LISTENER].into_iter().enumerate() {
        watches.insert(ty.to_string(), Watch { names: Some(Vec::new()), ..Default::default() });
        let req = DiscoveryRequest { node: (i == 0).then(|| node.clone()), type_url: ty.into(), ..Default::default() };
        let _ = tx.send(req).await;
    }
    resubscribe(&tx, handler, &mut watches).await;
    let mut responses = client
        .stream_aggregated_resources(ReceiverStream::new(rx))
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
        let (version, nonce) = (response.version_info.clone(), response.nonce.clone());
        let result = handler.apply(&ty, update(response));
        let watch = watches.entry(ty.clone()).or_default();
        watch.nonce = nonce.clone();
        match &result {
            Ok(()) => watch.version = version,
            Err(message) => tracing::warn!(r#type = %ty, "NACK: {message}"),
        }
        let ack = DiscoveryRequest {
            version_info: watch.version.clone(),
            resource_names: watch.names.clone().unwrap_or_default(),
            type_url: ty,
            response_nonce: nonce,
            error_detail: result.err().map(|m| nack_status(&m)),
            ..Default::default()
        };
        let _ = tx.send(ack).await;
        resubscribe(&tx, handler, &mut watches).await;
    }
}

fn update(r: DiscoveryResponse) -> Update {
    let version = r.version_info;
    let resources = r
        .resources
        .into_iter()
        .map(|any| Named { name: super::resource_name(&any).unwrap_or_default(), version: version.clone(), any })
        .collect();
    Update { resources, removed: Vec::new(), full_state: true }
}

/// Sends the EDS/RDS/SDS names when they changed (never an empty list: SotW reads that as "all").
async fn resubscribe(tx: &Tx, handler: &dyn Handler, watches: &mut HashMap<String, Watch>) {
    for ty in NAMED {
        let wanted: Vec<String> = handler.wanted(ty).into_iter().collect();
        let watch = watches.entry(ty.to_string()).or_default();
        if wanted.is_empty() || watch.names.as_ref() == Some(&wanted) {
            continue;
        }
        watch.names = Some(wanted.clone());
        let req = DiscoveryRequest {
            version_info: watch.version.clone(),
            resource_names: wanted,
            type_url: ty.to_string(),
            response_nonce: watch.nonce.clone(),
            ..Default::default()
        };
        let _ = tx.send(req).await;
    }
}
