//! The HTTP/1.1 client against raw upstreams on loopback: request framing as hyper's client
//! framed it, response framing (length, chunked with trailers, to the close, none), interim
//! responses, and the protocol errors that fail an exchange.

use super::*;
use crate::http::body::UpstreamBody;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

fn request(method: &str, body: UpstreamBody, headers: &[(&'static str, &'static str)]) -> Request<UpstreamBody> {
    let mut req = Request::builder().method(method).uri("/p?q=1");
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    req.body(body).expect("request")
}

fn full(bytes: &'static [u8]) -> UpstreamBody {
    UpstreamBody::Full(Some(Bytes::from_static(bytes)))
}

#[test]
fn request_framing_is_hypers() {
    type Case = (
        &'static str,
        UpstreamBody,
        &'static [(&'static str, &'static str)],
        RequestFraming,
        Option<&'static str>,
        Option<&'static str>,
    );
    let table: Vec<Case> = vec![
        ("GET", UpstreamBody::empty(), &[], RequestFraming::None, None, None),
        ("POST", UpstreamBody::empty(), &[("transfer-encoding", "chunked")], RequestFraming::None, None, None),
        ("POST", full(b"hello"), &[], RequestFraming::Length(5), Some("5"), None),
        ("POST", full(b"hello"), &[("content-length", "5")], RequestFraming::Length(5), Some("5"), None),
        (
            "POST",
            full(b"hello"),
            &[("transfer-encoding", "gzip"), ("content-length", "5")],
            RequestFraming::Chunked,
            None,
            Some("gzip"),
        ),
    ];
    for (method, body, headers, want, length, te) in table {
        let mut req = request(method, body, headers);
        let (mut parts, body) = req.into_parts();
        let got = request_framing(&parts.method, &mut parts.headers, &body);
        assert_eq!(got, want, "{method} {headers:?}");
        let h = |n| parts.headers.get(n).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_string);
        assert_eq!(h(header::CONTENT_LENGTH).as_deref(), length, "{method} {headers:?}");
        assert_eq!(h(header::TRANSFER_ENCODING).as_deref(), te, "{method} {headers:?}");
        if te.is_some() {
            let all: Vec<_> = parts.headers.get_all(header::TRANSFER_ENCODING).iter().collect();
            assert_eq!(all.last().map(|v| v.as_bytes()), Some(&b"chunked"[..]), "chunked is the last coding");
        }
        req = Request::from_parts(parts, body);
        drop(req);
    }
}

fn parse(raw: &[u8], head_request: bool) -> io::Result<Option<Head>> {
    parse_head(&mut BytesMut::from(raw), head_request)
}

#[test]
fn response_framing_follows_rfc_9112() {
    type Case = (&'static [u8], bool, Framing, bool);
    let table: &[Case] = &[
        (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", false, Framing::Length(5), true),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", true, Framing::Empty, true),
        (b"HTTP/1.1 204 No Content\r\n\r\n", false, Framing::Empty, true),
        (b"HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n", false, Framing::Empty, true),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", false, Framing::Empty, true),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n", false, Framing::Chunked, true),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n", false, Framing::Close, false),
        (b"HTTP/1.1 200 OK\r\n\r\n", false, Framing::Close, false),
        (b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\n", false, Framing::Length(1), false),
        (b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n", false, Framing::Length(1), false),
        (b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\n", false, Framing::Length(1), true),
        (b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n", false, Framing::Upgrade, false),
    ];
    for (raw, head_request, framing, keep_alive) in table {
        let head = parse(raw, *head_request).expect("valid").expect("complete");
        let text = String::from_utf8_lossy(raw);
        assert_eq!((head.framing, head.keep_alive), (*framing, *keep_alive), "{text}");
        if *framing == Framing::Chunked {
            assert!(!head.parts.headers.contains_key(header::CONTENT_LENGTH), "chunked drops content-length");
        }
    }
}

#[test]
fn invalid_response_heads_are_errors() {
    let bad: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: +5\r\n\r\n",
        b"HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"NOTHTTP\r\n\r\n",
    ];
    for raw in bad {
        assert!(parse(raw, false).is_err(), "{}", String::from_utf8_lossy(raw));
    }
    let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: v\r\n")).collect();
    assert!(parse(format!("HTTP/1.1 200 OK\r\n{many}\r\n").as_bytes(), false).is_err(), "101 fields");
    assert!(parse(b"HTTP/1.1 200 OK\r\ncontent-le", false).expect("partial").is_none());
}

/// An upstream that reads one request head and answers `response` (in the given pieces).
async fn upstream(pieces: Vec<&'static [u8]>) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        for piece in pieces {
            s.write_all(piece).await.expect("write");
            s.flush().await.expect("flush");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        got
    });
    (addr, task)
}

async fn exchange(pieces: Vec<&'static [u8]>) -> (io::Result<Head>, Connection, Vec<u8>) {
    let (addr, server) = upstream(pieces).await;
    let mut conn = Connection::new(TcpStream::connect(addr).await.expect("connect"));
    let head = conn.send(request("GET", UpstreamBody::empty(), &[("host", "up")])).await;
    let head = head.map_err(|e| match e {
        SendError::Failed(e) => e,
        SendError::NotSent(_) => io::Error::other("not sent"),
    });
    let sent = server.await.expect("server");
    (head, conn, sent)
}

#[tokio::test]
async fn the_request_goes_out_in_origin_form_and_interim_responses_are_skipped() {
    let (head, _conn, sent) = exchange(vec![
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early",
        b" Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    ])
    .await;
    assert_eq!(String::from_utf8_lossy(&sent), "GET /p?q=1 HTTP/1.1\r\nhost: up\r\n\r\n");
    let head = head.expect("response");
    assert_eq!((head.parts.status.as_u16(), head.framing), (200, Framing::Length(2)));
    assert!(!head.parts.headers.contains_key("link"), "the 103's fields are not the response's");
}

#[tokio::test]
async fn an_upstream_that_closes_before_answering_fails_the_exchange() {
    let (head, _conn, _) = exchange(vec![b"HTTP/1.1 200 OK\r\ncontent-"]).await;
    assert_eq!(head.expect_err("closed").kind(), io::ErrorKind::UnexpectedEof);
}

/// Reads a whole H1 body from `conn` after `head` (without a pool: the lease-free reader).
async fn read_body(mut conn: Connection, framing: Framing) -> io::Result<(Vec<u8>, Option<HeaderMap>)> {
    let mut state = super::super::h1_body::test_state(framing);
    let (mut data, mut trailers) = (Vec::new(), None);
    while let Some(frame) = std::future::poll_fn(|cx| super::super::h1_body::test_poll(&mut state, &mut conn, cx)).await
    {
        let frame = frame?;
        match frame.into_data() {
            Ok(d) => data.extend_from_slice(&d),
            Err(f) => trailers = f.into_trailers().ok(),
        }
    }
    Ok((data, trailers))
}

#[tokio::test]
async fn chunked_bodies_are_decoded_across_reads_with_their_trailers() {
    let (head, conn, _) = exchange(vec![
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel",
        b"lo\r\n6;ext=1\r\n world\r",
        b"\n0\r\nx-checksum: abc\r\n",
        b"\r\n",
    ])
    .await;
    let head = head.expect("response");
    let (data, trailers) = read_body(conn, head.framing).await.expect("body");
    assert_eq!(String::from_utf8_lossy(&data), "hello world");
    assert_eq!(trailers.and_then(|t| t.get("x-checksum").cloned()), Some(HeaderValue::from_static("abc")));
}

#[tokio::test]
async fn bodies_end_by_length_or_at_the_close_and_a_short_body_is_an_error() {
    let (head, conn, _) = exchange(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01234", b"56789"]).await;
    let (data, _) = read_body(conn, head.expect("head").framing).await.expect("body");
    assert_eq!(data, b"0123456789");
    let (head, conn, _) = exchange(vec![b"HTTP/1.0 200 OK\r\n\r\nuntil", b" the close"]).await;
    let (data, _) = read_body(conn, head.expect("head").framing).await.expect("body");
    assert_eq!(data, b"until the close");
    let (head, conn, _) = exchange(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01234"]).await;
    assert!(read_body(conn, head.expect("head").framing).await.is_err(), "5 of 10 bytes, then the close");
    let (head, conn, _) = exchange(vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"]).await;
    assert!(read_body(conn, head.expect("head").framing).await.is_err(), "a chunk size that is not hex");
}

#[tokio::test]
async fn an_early_answer_to_a_large_upload_is_the_response() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        let _ = s.write_all(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n").await;
        // Not reading the rest of the body, then closing: the client's writes fail.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    });
    let mut conn = Connection::new(TcpStream::connect(addr).await.expect("connect"));
    let body = UpstreamBody::Full(Some(Bytes::from(vec![b'x'; 32 << 20])));
    let req = request("POST", body, &[("host", "up"), ("transfer-encoding", "chunked")]);
    let head = conn.send(req).await.map_err(|e| format!("{e:?}")).expect("the early answer");
    assert_eq!((head.parts.status.as_u16(), head.keep_alive), (413, false));
}
