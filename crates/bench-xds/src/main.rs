//! `xds-scale-client`: the load generator of `bench/xds-scale`. It opens N ADS streams (SotW, or
//! Delta with `--delta`) with distinct sidecar node ids, multiplexed over a few HTTP/2
//! connections (`--streams-per-conn`, default 100, below the server's concurrent-stream limit),
//! and prints machine-readable lines on stdout:
//!
//! - `synced SECONDS VERSION`: every client has ACKed CDS and LDS and got the EDS and RDS it
//!   asked for; SECONDS since the first connection, VERSION the highest version seen;
//! - `converged FIRST_UNIX_MS LAST_UNIX_MS VERSION`: every client has ACKed a version newer than
//!   the one at sync (the first and the last of those ACKs, wall clock);
//! - `error CLIENT MESSAGE`: a stream failed (the process then exits with status 1).
//!
//! It keeps the streams open after converging until killed, so the caller can read the
//! control plane's `/debug/syncz` and `/metrics` with every proxy still connected.

mod delta;
mod names;
mod sotw;

use envoy_types::pb::envoy::config::core::v3::Node;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};

/// What a client reports to the aggregator.
pub enum Event {
    /// Client has its full initial config.
    Synced(usize),
    /// Client ACKed a response carrying this control-plane version.
    Acked(usize, u64),
    /// Client's stream failed.
    Failed(usize, String),
}

/// Sender side of the event channel.
pub type EventTx = mpsc::UnboundedSender<Event>;

struct Args {
    address: String,
    clients: usize,
    delta: bool,
    streams_per_conn: usize,
}

const USAGE: &str = "usage: xds-scale-client --address HOST:PORT --clients N [--delta] [--streams-per-conn K]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args { address: String::new(), clients: 1, delta: false, streams_per_conn: 100 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--address" => a.address = value()?,
            "--clients" => a.clients = value()?.parse().map_err(|e| format!("--clients: {e}"))?,
            "--streams-per-conn" => {
                a.streams_per_conn = value()?.parse().map_err(|e| format!("--streams-per-conn: {e}"))?;
            }
            "--delta" => a.delta = true,
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    if a.address.is_empty() || a.clients == 0 || a.streams_per_conn == 0 {
        return Err(USAGE.into());
    }
    Ok(a)
}

fn node(i: usize) -> Node {
    Node {
        id: format!("sidecar~127.0.0.1~client-{i}.default~default.svc.cluster.local"),
        cluster: format!("client-{i}.default"),
        ..Node::default()
    }
}

fn unix_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default()
}

async fn connect(address: &str) -> Result<Channel, String> {
    Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| e.to_string())?
        // Many streams share a connection: a big connection window keeps one large CDS
        // response from stalling the others.
        .initial_connection_window_size(Some(64 << 20))
        .initial_stream_window_size(Some(8 << 20))
        .connect()
        .await
        .map_err(|e| format!("connect {address}: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let cache = Arc::new(names::Cache::default());
    let started = Instant::now();
    let mut channel = None;
    for i in 0..args.clients {
        if i % args.streams_per_conn == 0 {
            channel = match connect(&args.address).await {
                Ok(c) => Some(c),
                Err(e) => {
                    println!("error {i} {e}");
                    return ExitCode::FAILURE;
                }
            };
        }
        let Some(ch) = channel.clone() else { continue };
        let (cache, events, delta) = (cache.clone(), tx.clone(), args.delta);
        tokio::spawn(async move {
            let result = if delta {
                delta::run(i, ch, node(i), &cache, events.clone()).await
            } else {
                sotw::run(i, ch, node(i), &cache, events.clone()).await
            };
            let _ = events.send(Event::Failed(i, result.err().unwrap_or_else(|| "stream closed".into())));
        });
    }
    drop(tx);
    aggregate(args.clients, started, rx).await
}

/// Folds client events into the `synced` and `converged` lines.
async fn aggregate(n: usize, started: Instant, mut rx: mpsc::UnboundedReceiver<Event>) -> ExitCode {
    let mut synced = vec![false; n];
    let mut converged = vec![false; n];
    let (mut synced_count, mut converged_count) = (0, 0);
    let (mut max_version, mut base): (u64, Option<u64>) = (0, None);
    let mut first_ack = None;
    let mut progress = tokio::time::interval(Duration::from_secs(5));
    loop {
        let event = tokio::select! {
            e = rx.recv() => e,
            _ = progress.tick() => {
                eprintln!("xds-scale-client: {synced_count}/{n} synced, {converged_count}/{n} converged");
                continue;
            }
        };
        match event {
            Some(Event::Synced(i)) if !synced[i] => {
                synced[i] = true;
                synced_count += 1;
                if synced_count == n {
                    base = Some(max_version);
                    println!("synced {:.3} {max_version}", started.elapsed().as_secs_f64());
                }
            }
            Some(Event::Acked(i, v)) => {
                max_version = max_version.max(v);
                if base.is_some_and(|b| v > b) && !converged[i] {
                    converged[i] = true;
                    converged_count += 1;
                    let now = unix_ms();
                    let first = *first_ack.get_or_insert(now);
                    if converged_count == n {
                        println!("converged {first} {now} {v}");
                    }
                }
            }
            Some(Event::Failed(i, e)) => {
                println!("error {i} {e}");
                return ExitCode::FAILURE;
            }
            Some(Event::Synced(_)) => {}
            None => return ExitCode::SUCCESS,
        }
    }
}
