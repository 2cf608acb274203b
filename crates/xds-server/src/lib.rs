//! The ADS server: ships what `strait-xds` generates to every connected proxy over gRPC, as
//! istiod does. Both protocol variants are served (State-of-the-World and Delta) for CDS, EDS,
//! LDS and RDS. Per proxy and type it tracks what was sent and what was ACKed or NACKed; a NACK
//! is logged with the proxy's message and counted, and the proxy keeps its last good config
//! (we never resend the rejected version). Pushes are scoped by content: after a change each
//! proxy is sent only the types whose resources changed (an endpoint change pushes EDS only).
//!
//! The registry arrives through a `tokio::sync::watch` channel of [`Published`] snapshots; the
//! control plane debounces file changes before publishing.

pub mod delta;
pub mod node;
pub mod resources;
pub mod sotw;
pub mod status;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use strait_registry::Registry;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// One published registry version.
#[derive(Debug)]
pub struct Published {
    /// Monotonic version, sent to proxies as `version_info`.
    pub version: u64,
    /// The registry.
    pub registry: Registry,
    /// When the change that produced it was seen (for convergence time).
    pub changed_at: Instant,
}

/// State shared by all streams.
pub struct Shared {
    /// The current registry.
    pub registry: watch::Receiver<Arc<Published>>,
    /// Connection and sync status, for proxy-status and metrics.
    pub status: status::StatusBoard,
    /// Bounds how many streams generate at once (istiod's push throttle). Generation is CPU
    /// bound, so more in parallel than cores only adds memory: after a change every stream
    /// would hold a full snapshot at the same moment.
    generation: tokio::sync::Semaphore,
}

impl Shared {
    /// Generates and packs `proxy`'s config from `published`, a few streams at a time, on the
    /// blocking pool: generation is CPU bound, and on the async workers it would starve the
    /// gRPC connections' I/O (HTTP/2 pings go unanswered and clients drop the connection).
    pub async fn generate(
        &self,
        published: &Arc<Published>,
        proxy: &strait_registry::Proxy,
    ) -> resources::PackedSnapshot {
        let _permit = self.generation.acquire().await;
        let (published, proxy) = (published.clone(), proxy.clone());
        tokio::task::spawn_blocking(move || resources::pack_all(&strait_xds::generate(&published.registry, &proxy)))
            .await
            // A panic in generation must not turn into an empty config pushed to the proxy: it
            // ends this stream, as it would have on the async worker.
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}

/// The gRPC service.
#[derive(Clone)]
pub struct Ads {
    shared: Arc<Shared>,
}

impl Ads {
    /// A server publishing whatever `registry` holds.
    pub fn new(registry: watch::Receiver<Arc<Published>>) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let generation = tokio::sync::Semaphore::new(cores.max(2));
        Self { shared: Arc::new(Shared { registry, status: status::StatusBoard::default(), generation }) }
    }

    /// The status board (for debug endpoints and metrics).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// The tonic service to mount.
    pub fn into_service(self) -> AggregatedDiscoveryServiceServer<Ads> {
        AggregatedDiscoveryServiceServer::new(self).max_decoding_message_size(64 * 1024 * 1024)
    }
}

type RespStream<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl AggregatedDiscoveryService for Ads {
    type StreamAggregatedResourcesStream = RespStream<DiscoveryResponse>;
    type DeltaAggregatedResourcesStream = RespStream<DeltaDiscoveryResponse>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(sotw::serve(self.shared.clone(), request.into_inner(), tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn delta_aggregated_resources(
        &self,
        request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(delta::serve(self.shared.clone(), request.into_inner(), tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
