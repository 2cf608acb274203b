//! CONNECT tunnels on the capture-free HTTP proxy listener (what `HTTPS_PROXY` clients send):
//! the route's cluster is reached over TCP first — a failure is an ordinary local reply
//! (`UF`, `UH`) —, then the client gets `200` and the upgraded connection is spliced to the
//! upstream. The access log record is written when the tunnel closes, with its byte counts.

use super::body::DownstreamBody;
use super::proxy::Exchange;
use crate::config::Config;
use crate::failure::Failure;
use crate::state::Shared;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// Opens the tunnel for a CONNECT routed to `cluster_name`.
pub(super) async fn tunnel(
    mut req: Request<Incoming>,
    config: &Config,
    cluster_name: &str,
    authority: &str,
    shared: &Arc<Shared>,
    ex: &mut Exchange,
) -> Result<Response<DownstreamBody>, Failure> {
    let cluster = config.clusters.get(cluster_name).ok_or(Failure::ClusterNotFound)?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let target = crate::upstream::Target {
        authority,
        header,
        local: Some(ex.record.downstream_local),
        original_dst: ex.original_dst,
    };
    let (addr, active) = crate::upstream::pick(cluster, config, &target, None)?;
    ex.record.upstream_host = Some(addr);
    let mut upstream = crate::upstream::connect(cluster, addr).await?;
    ex.record.upstream_local = upstream.local_addr().ok();
    ex.record.status = 200;
    ex.record.details = "via_upstream".into();
    let on_upgrade = hyper::upgrade::on(&mut req);
    let mut record = ex.record.clone();
    let started = ex.started;
    let log = std::mem::take(&mut ex.log).then(|| shared.clone());
    tokio::spawn(async move {
        let _active = active;
        if let Ok(upgraded) = on_upgrade.await {
            let mut downstream = TokioIo::new(upgraded);
            if let Ok((up, down)) = tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await {
                record.bytes_received = up;
                record.bytes_sent = down;
            }
        }
        if let Some(shared) = log {
            record.duration_ms = crate::upstream::millis(started.elapsed());
            shared.access_log.complete(&record);
        }
    });
    let mut response = Response::new(DownstreamBody::full(bytes::Bytes::new()));
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}
