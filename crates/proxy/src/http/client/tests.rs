//! The pool against a real loopback HTTP/1.1 server that counts its connections: keep-alive
//! reuse, requests per connection, circuit breakers (connections + pending, requests), idle
//! timeout, and connect failures failing every pending request.

use super::*;
use crate::config::cluster::breakers::Limits;
use crate::config::cluster::{ConnectionLimits, Discovery, LoadAssignment};
use crate::lb::Policy;
use crate::upstream::breakers::Breakers;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Connections accepted and closed by the test server.
#[derive(Default)]
struct Counts {
    accepted: AtomicUsize,
    closed: AtomicUsize,
}

/// A keep-alive HTTP/1.1 server answering `ok` after `delay`.
async fn server(delay: Duration) -> (SocketAddr, Arc<Counts>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            c.accepted.fetch_add(1, Ordering::SeqCst);
            let c = c.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                'conn: loop {
                    loop {
                        match lines.next_line().await {
                            Ok(Some(l)) if l.is_empty() => break,
                            Ok(Some(_)) => {}
                            _ => break 'conn,
                        }
                    }
                    tokio::time::sleep(delay).await;
                    if write.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.is_err() {
                        break;
                    }
                }
                c.closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (addr, counts)
}

fn pool(limits: Limits, connection: ConnectionLimits) -> Pool {
    let cluster = Cluster {
        name: "test".into(),
        discovery: Discovery::Static(Arc::new(LoadAssignment::default())),
        lb: Policy::RoundRobin,
        panic_threshold: 50.0,
        connect_timeout: Duration::from_secs(1),
        protocol: Protocol::Http1,
        connection,
        breakers: Breakers::new(&limits),
        limits,
        outlier: None,
        bind: None,
        keepalive: None,
    };
    Pool::new(Arc::new(cluster))
}

fn get() -> Request<UpstreamBody> {
    Request::builder().uri("/").header("host", "test").body(UpstreamBody::empty()).expect("request")
}

/// Sends one request and reads the whole response.
async fn call(pool: &Pool, addr: SocketAddr) -> Result<u16, Failure> {
    use http_body_util::BodyExt;
    let sent = pool.send(addr, get(), false, None).await?;
    let status = sent.response.status().as_u16();
    let _ = sent.response.into_body().collect().await;
    Ok(status)
}

/// Lets spawned pool tasks (releases, drivers) run.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn keep_alive_reuses_and_request_limit_closes() {
    let (addr, counts) = server(Duration::ZERO).await;
    let p = pool(Limits::default(), ConnectionLimits::default());
    for _ in 0..3 {
        assert_eq!(call(&p, addr).await, Ok(200));
        settle().await;
    }
    assert_eq!(counts.accepted.load(Ordering::SeqCst), 1, "one connection, reused");
    let limited = ConnectionLimits { max_requests: Some(1), ..ConnectionLimits::default() };
    let (addr, counts) = server(Duration::ZERO).await;
    let p = pool(Limits::default(), limited);
    for _ in 0..3 {
        assert_eq!(call(&p, addr).await, Ok(200));
        settle().await;
    }
    assert_eq!(counts.accepted.load(Ordering::SeqCst), 3, "one connection per request");
    assert_eq!(counts.closed.load(Ordering::SeqCst), 3, "each closed after its request");
    assert_eq!(p.open_connections(), 0, "every connection permit given back");
}

#[tokio::test]
async fn connections_and_pending_requests_overflow() {
    let (addr, counts) = server(Duration::from_millis(300)).await;
    let limits = Limits { connections: 1, pending_requests: 1, ..Limits::default() };
    let p = Arc::new(pool(limits, ConnectionLimits::default()));
    let first = tokio::spawn({
        let p = p.clone();
        async move { call(&p, addr).await }
    });
    settle().await;
    // The first holds the only connection: the next waits, the others overflow.
    let rest: Vec<_> = (0..3)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { call(&p, addr).await })
        })
        .collect();
    let mut results = vec![first.await.expect("task")];
    for r in rest {
        results.push(r.await.expect("task"));
    }
    let ok = results.iter().filter(|r| **r == Ok(200)).count();
    let overflow = results.iter().filter(|r| **r == Err(Failure::Overflow)).count();
    assert_eq!((ok, overflow), (2, 2), "{results:?}");
    assert_eq!(counts.accepted.load(Ordering::SeqCst), 1, "the waiting request reused the connection");
}

#[tokio::test]
async fn max_requests_counts_requests_in_flight() {
    let (addr, _) = server(Duration::from_millis(200)).await;
    let p = Arc::new(pool(Limits { requests: 1, ..Limits::default() }, ConnectionLimits::default()));
    let first = tokio::spawn({
        let p = p.clone();
        async move { call(&p, addr).await }
    });
    settle().await;
    assert_eq!(call(&p, addr).await, Err(Failure::Overflow));
    assert_eq!(first.await.expect("task"), Ok(200));
    settle().await;
    assert_eq!(call(&p, addr).await, Ok(200), "the request permit came back with the response");
}

#[tokio::test]
async fn idle_connections_close_after_the_idle_timeout() {
    let (addr, counts) = server(Duration::ZERO).await;
    let idle = ConnectionLimits { idle_timeout: Some(Duration::from_millis(200)), ..ConnectionLimits::default() };
    let p = pool(Limits::default(), idle);
    assert_eq!(call(&p, addr).await, Ok(200));
    settle().await;
    assert_eq!(counts.closed.load(Ordering::SeqCst), 0, "still idle in the pool");
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(counts.closed.load(Ordering::SeqCst), 1, "closed by the idle timeout");
    assert_eq!(call(&p, addr).await, Ok(200), "a new connection afterwards");
    assert_eq!(counts.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_refused_connect_fails_the_pending_requests() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let p = pool(Limits::default(), ConnectionLimits::default());
    let results = futures_join(&p, addr).await;
    for r in results {
        assert_eq!(r, Err(Failure::ConnectFailure(libc::ECONNREFUSED)));
    }
    assert_eq!(p.open_connections(), 0);
}

async fn futures_join(p: &Pool, addr: SocketAddr) -> [Result<u16, Failure>; 2] {
    let (a, b) = tokio::join!(call(p, addr), call(p, addr));
    [a, b]
}

/// An h2c (prior knowledge) server answering `ok` after `delay`, counting connections.
async fn h2_server(delay: Duration) -> (SocketAddr, Arc<Counts>) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            c.accepted.fetch_add(1, Ordering::SeqCst);
            let c = c.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| async move {
                    tokio::time::sleep(delay).await;
                    let authority = req.uri().authority().map(|a| a.to_string()).unwrap_or_default();
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                        bytes::Bytes::from(authority),
                    )))
                });
                let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                let _ = conn.serve_connection(TokioIo::new(stream), service).await;
                c.closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (addr, counts)
}

#[tokio::test]
async fn http2_multiplexes_one_connection_and_drains_at_its_request_limit() {
    use http_body_util::BodyExt;
    let (addr, counts) = h2_server(Duration::from_millis(100)).await;
    let mut p = pool(Limits::default(), ConnectionLimits::default());
    Arc::get_mut(&mut p.cluster).expect("sole owner").protocol = Protocol::Http2;
    let p = Arc::new(p);
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move {
                let req = Request::builder().uri("http://svc.test/").body(UpstreamBody::empty()).expect("req");
                let sent = p.send(addr, req, true, None).await?;
                let body = sent.response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                Ok::<_, Failure>(String::from_utf8_lossy(&body).into_owned())
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.expect("task"), Ok("svc.test".to_string()), ":authority is the request's host");
    }
    assert_eq!(counts.accepted.load(Ordering::SeqCst), 1, "five concurrent streams on one connection");

    let (addr, counts) = h2_server(Duration::ZERO).await;
    let mut p = pool(Limits::default(), ConnectionLimits { max_requests: Some(2), ..ConnectionLimits::default() });
    Arc::get_mut(&mut p.cluster).expect("sole owner").protocol = Protocol::Http2;
    for _ in 0..5 {
        let req = Request::builder().uri("http://svc.test/").body(UpstreamBody::empty()).expect("req");
        let sent = p.send(addr, req, true, None).await.expect("sent");
        let _ = sent.response.into_body().collect().await;
    }
    settle().await;
    assert_eq!(counts.accepted.load(Ordering::SeqCst), 3, "two requests per connection");
    assert_eq!(counts.closed.load(Ordering::SeqCst), 2, "drained connections close");
}
