//! The xDS client: one ADS stream to the control plane, Delta by default (SotW on request,
//! or when the server does not implement Delta), subscribing to clusters and listeners
//! (wildcard) and to the endpoints, route configs and SDS secrets (`kubernetes://NAME`, named
//! by listeners' TLS contexts) they name, the way Envoy does. Every
//! response goes to a [`Handler`] (which compiles and swaps the config) and is ACKed, or
//! NACKed with the handler's message naming the field it could not apply. When the stream
//! fails the client reconnects with jittered exponential back-off, and the last applied
//! config keeps serving meanwhile.
//!
//! Parts: [`node`] (the node identity the control plane matches proxies by), `delta` and
//! `sotw` (the two stream protocols).

mod delta;
pub mod node;
mod sotw;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::google::protobuf::Any;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// CDS type URL.
pub const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
/// EDS type URL.
pub const ENDPOINT: &str = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
/// LDS type URL.
pub const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
/// RDS type URL.
pub const ROUTE: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
/// SDS type URL (certificates and CAs of TLS contexts).
pub const SECRET: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
/// Types subscribed to by name (derived from clusters and listeners).
pub const NAMED: [&str; 3] = [ENDPOINT, ROUTE, SECRET];

/// One resource of a response.
#[derive(Debug, Clone)]
pub struct Named {
    /// Resource name.
    pub name: String,
    /// Its version (Delta: per resource; SotW: the response's).
    pub version: String,
    /// The packed resource.
    pub any: Any,
}

/// One response's content, for the handler.
#[derive(Debug, Clone, Default)]
pub struct Update {
    /// Added or changed resources.
    pub resources: Vec<Named>,
    /// Removed names (Delta).
    pub removed: Vec<String>,
    /// SotW: the response holds every resource of the type (absent ones are gone).
    pub full_state: bool,
}

/// What the client hands responses to.
pub trait Handler: Send + Sync + 'static {
    /// Applies one response; `Err` is the NACK message.
    fn apply(&self, type_url: &str, update: Update) -> Result<(), String>;
    /// Names to subscribe to for a named type (EDS, RDS).
    fn wanted(&self, type_url: &str) -> BTreeSet<String>;
    /// The versions held per resource of a type (Delta reconnects send them).
    fn versions(&self, type_url: &str) -> HashMap<String, String>;
    /// The stream is up (true) or down (false).
    fn connected(&self, up: bool);
}

/// How to reach the control plane.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `host:port` of the ADS server (plaintext gRPC).
    pub address: String,
    /// Our node.
    pub node: Node,
    /// Delta (true) or State-of-the-World.
    pub delta: bool,
}

/// The ADS client type.
pub type AdsClient = AggregatedDiscoveryServiceClient<Channel>;

/// Runs the client forever: connect, stream, back off, reconnect.
pub async fn run(settings: Settings, handler: Arc<dyn Handler>) {
    let mut delta = settings.delta;
    let mut backoff = Duration::from_millis(100);
    loop {
        let outcome = match connect(&settings.address).await {
            Ok(client) => {
                let result = if delta {
                    delta::stream(client, &settings.node, handler.as_ref()).await
                } else {
                    sotw::stream(client, &settings.node, handler.as_ref()).await
                };
                handler.connected(false);
                result
            }
            Err(e) => Err(Failure { progressed: false, status: tonic::Status::unavailable(e) }),
        };
        match outcome {
            Ok(()) => tracing::warn!("ADS stream closed by the control plane"),
            Err(f) if delta && f.status.code() == tonic::Code::Unimplemented => {
                tracing::warn!("the control plane does not implement Delta ADS; using State-of-the-World");
                delta = false;
                continue;
            }
            Err(f) => {
                if f.progressed {
                    backoff = Duration::from_millis(100);
                }
                tracing::warn!(address = %settings.address, "ADS stream failed: {}", f.status.message());
            }
        }
        let jittered = backoff / 2 + Duration::from_nanos(crate::rng::below(backoff.as_nanos() as u64 / 2 + 1));
        tokio::time::sleep(jittered).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Why a stream ended: its status, and whether it got any response (then the back-off resets).
#[derive(Debug)]
pub struct Failure {
    /// Whether the stream received at least one response.
    pub progressed: bool,
    /// The gRPC status.
    pub status: tonic::Status,
}

async fn connect(address: &str) -> Result<AdsClient, String> {
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true);
    let channel = endpoint.connect().await.map_err(|e| format!("cannot connect to {address}: {e}"))?;
    Ok(AggregatedDiscoveryServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024))
}

/// A NACK's `error_detail` (gRPC INVALID_ARGUMENT with the message).
pub fn nack_status(message: &str) -> envoy_types::pb::google::rpc::Status {
    envoy_types::pb::google::rpc::Status {
        code: tonic::Code::InvalidArgument as i32,
        message: message.to_string(),
        details: Vec::new(),
    }
}

/// The name of a packed resource (SotW responses carry bare resources).
pub fn resource_name(any: &Any) -> Option<String> {
    use envoy_types::pb::envoy::config::{
        cluster::v3::Cluster, endpoint::v3::ClusterLoadAssignment, listener::v3::Listener,
        route::v3::RouteConfiguration,
    };
    use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::Secret;
    use prost::Message;
    let bytes = any.value.as_slice();
    match any.type_url.as_str() {
        CLUSTER => Cluster::decode(bytes).ok().map(|c| c.name),
        ENDPOINT => ClusterLoadAssignment::decode(bytes).ok().map(|c| c.cluster_name),
        LISTENER => Listener::decode(bytes).ok().map(|l| l.name),
        ROUTE => RouteConfiguration::decode(bytes).ok().map(|r| r.name),
        SECRET => Secret::decode(bytes).ok().map(|s| s.name),
        _ => None,
    }
}
