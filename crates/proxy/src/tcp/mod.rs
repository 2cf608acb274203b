//! The TCP proxy: each accepted connection goes to the listener's cluster (weighted clusters
//! picked exactly by smooth WRR), to a host picked by the cluster's balancer, and the bytes
//! are spliced both ways until either side closes. A connect failure closes the downstream
//! connection, as Envoy does, with `UF` (or `UH` without hosts) in the access log; every
//! connection ends in one completion record (access log and metrics) with its byte counts and
//! duration; it counts as opened for the metrics once its upstream connect has finished.

use crate::access_log::{Meta, Record};
use crate::config::listener::TcpProxy;
use crate::failure::Failure;
use crate::state::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Proxies one downstream connection.
pub async fn serve(
    downstream: TcpStream,
    proxy: Arc<TcpProxy>,
    local: SocketAddr,
    remote: SocketAddr,
    shared: Arc<Shared>,
) {
    serve_to(downstream, proxy, local, remote, None, shared).await;
}

/// [`serve`] for a connection whose original destination was restored (`local` then is it):
/// ORIGINAL_DST clusters connect there.
pub async fn serve_to(
    downstream: TcpStream,
    proxy: Arc<TcpProxy>,
    local: SocketAddr,
    remote: SocketAddr,
    original_dst: Option<SocketAddr>,
    shared: Arc<Shared>,
) {
    let _ = downstream.set_nodelay(true);
    serve_stream(downstream, None, proxy, local, remote, original_dst, shared).await;
}

/// [`serve_to`] on any stream (a decrypted TLS one: `sni` is what its client asked for).
pub async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(
    mut downstream: S,
    sni: Option<Arc<str>>,
    proxy: Arc<TcpProxy>,
    local: SocketAddr,
    remote: SocketAddr,
    original_dst: Option<SocketAddr>,
    shared: Arc<Shared>,
) {
    let started = Instant::now();
    let cluster_name = proxy.pick().to_string();
    let mut record = record(local, remote, &cluster_name, &proxy);
    record.meta.requested_server_name = sni;
    let config = crate::upstream::warming::warmed(&shared, &cluster_name, shared.config.load_full()).await;
    let connected = async {
        let cluster = config.clusters.get(&cluster_name).ok_or(Failure::ClusterNotFound)?;
        let target =
            crate::upstream::Target { authority: "", header: |_: &str| None, local: Some(local), original_dst };
        let (addr, active) = crate::upstream::pick(cluster, &config, &target, None)?;
        record.upstream_host = Some(addr);
        let upstream = crate::upstream::connect(cluster, addr).await?;
        Ok::<_, Failure>((upstream, active))
    };
    let connected = connected.await;
    if let Err(f) = &connected {
        record.flags = f.flag();
        record.transport_failure = f.transport_failure();
    }
    shared.access_log.tcp_opened(&record);
    if let Ok((mut upstream, _active)) = connected {
        record.upstream_local = upstream.local_addr().ok();
        if let Ok((up, down)) = tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await {
            record.bytes_received = up;
            record.bytes_sent = down;
        }
    }
    record.duration_ms = crate::upstream::millis(started.elapsed());
    shared.access_log.complete(&record);
}

fn record(local: SocketAddr, remote: SocketAddr, cluster: &str, proxy: &TcpProxy) -> Record {
    Record {
        start: SystemTime::now(),
        method: None,
        path: None,
        protocol: None,
        status: 0,
        flags: "",
        details: String::new(),
        transport_failure: String::new(),
        bytes_received: 0,
        bytes_sent: 0,
        duration_ms: 0,
        upstream_service_time: None,
        x_forwarded_for: None,
        user_agent: None,
        request_id: None,
        authority: None,
        upstream_host: None,
        upstream_cluster: Some(cluster.to_string()),
        upstream_local: None,
        downstream_local: local,
        downstream_remote: remote,
        route_name: None,
        meta: Meta::new(&proxy.stat_prefix, proxy.access_log.then_some(proxy.log_format)),
    }
}
