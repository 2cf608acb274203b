//! Unit tests of the HTTP/1 guard: what hyper would read for given client bytes, whole or
//! trickled a few bytes at a time.

use super::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// A client sending `data` in pieces of `step` bytes.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    step: usize,
}

impl AsyncRead for Trickle {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = this.step.min(this.data.len() - this.pos).min(buf.remaining());
        buf.put_slice(&this.data[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// What hyper reads from `input` (until EOF, the stand-in, or an error), and the verdicts.
async fn through(input: &[u8], step: usize, h2: bool, upgrade: Option<bool>) -> (Vec<u8>, Arc<Verdicts>, bool) {
    let verdicts = Arc::new(Verdicts::default());
    if let Some(upgraded) = upgrade {
        verdicts.upgrade_answered(upgraded);
    }
    let trickle = Trickle { data: input.to_vec(), pos: 0, step };
    let mut guard = Guard::new(trickle, verdicts.clone(), h2);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match guard.read(&mut buf).await {
            Ok(0) => return (seen, verdicts, false),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return (seen, verdicts, true),
        }
        if seen.ends_with(STAND_IN) {
            return (seen, verdicts, false);
        }
    }
}

fn run(input: &[u8], step: usize, h2: bool) -> (Vec<u8>, Arc<Verdicts>, bool) {
    run_upgrade(input, step, h2, None)
}

fn run_upgrade(input: &[u8], step: usize, h2: bool, upgrade: Option<bool>) -> (Vec<u8>, Arc<Verdicts>, bool) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    rt.block_on(async {
        let read = tokio::time::timeout(Duration::from_secs(5), through(input, step, h2, upgrade));
        read.await.expect("the guard hands over what it can without waiting forever")
    })
}

const GOOD: &str = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n\
                    POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n\
                    POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
                    GET /d HTTP/1.1\r\nHost: a\r\n\r\n";

#[test]
fn valid_pipelines_pass_unchanged_however_they_arrive() {
    for step in [1, 2, 3, 7, 64, 4096] {
        let (seen, verdicts, failed) = run(GOOD.as_bytes(), step, true);
        assert_eq!(String::from_utf8_lossy(&seen), GOOD, "step {step}");
        assert!(!failed && verdicts.rejection(1).is_none() && !verdicts.body_error());
    }
}

#[test]
fn a_smuggling_head_is_replaced_and_nothing_after_it_is_read() {
    let first = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
    let attack = format!(
        "{first}POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n\
         0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
    );
    for step in [1, 5, 4096] {
        let (seen, verdicts, _) = run(attack.as_bytes(), step, false);
        assert_eq!(String::from_utf8_lossy(&seen), format!("{first}{}", String::from_utf8_lossy(STAND_IN)));
        assert_eq!(verdicts.rejection(1), None);
        assert_eq!(verdicts.rejection(2).map(|r| r.details), Some("http1.content_length_and_chunked_not_allowed"));
    }
}

#[test]
fn a_body_hiding_a_head_is_followed_as_the_body() {
    // The smuggled-looking bytes are inside a Content-Length body: they are body, not a head.
    let req = "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 32\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n\r\n\r\n";
    let (seen, verdicts, failed) = run(req.as_bytes(), 4096, false);
    assert_eq!(String::from_utf8_lossy(&seen), req);
    assert!(!failed && verdicts.rejection(1).is_none() && verdicts.rejection(2).is_none());
}

#[test]
fn broken_chunk_framing_is_a_read_error() {
    let req = "POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF1\r\nabc\r\n0\r\n\r\n";
    for step in [1, 4096] {
        let (seen, verdicts, failed) = run(req.as_bytes(), step, false);
        assert!(failed && verdicts.body_error(), "step {step}");
        assert!(seen.starts_with(b"POST /b") && !seen.ends_with(b"0\r\n\r\n"));
    }
}

#[test]
fn http2_preface_passes_untouched_only_where_allowed() {
    let mut h2 = PREFACE.to_vec();
    h2.extend_from_slice(b"\0\0\0\x04\0\0\0\0\0");
    let (seen, _, _) = run(&h2, 3, true);
    assert_eq!(seen, h2);
    let (seen, verdicts, _) = run(&h2, 4096, false);
    assert_eq!(seen, STAND_IN);
    assert_eq!(verdicts.rejection(1).map(|r| r.status), Some(426));
}

#[test]
fn after_an_upgrade_the_bytes_pass_and_after_a_refused_one_checks_go_on() {
    let connect = "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n\x16\x03\x01 not http at all\r\n\r\n";
    let (seen, verdicts, _) = run_upgrade(connect.as_bytes(), 4096, false, Some(true));
    assert_eq!(String::from_utf8_lossy(&seen), connect);
    assert!(verdicts.rejection(2).is_none());
    let ws = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
    let smuggle = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let (seen, verdicts, _) = run_upgrade(format!("{ws}{smuggle}").as_bytes(), 7, false, Some(false));
    assert_eq!(String::from_utf8_lossy(&seen), format!("{ws}{}", String::from_utf8_lossy(STAND_IN)));
    assert_eq!(verdicts.rejection(2).map(|r| r.status), Some(400));
}

#[test]
fn an_unanswered_upgrade_holds_the_bytes_back() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let ws = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\nframes";
    let read = rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(200), through(ws.as_bytes(), 4096, false, None)).await
    });
    assert!(read.is_err(), "nothing after the head is read before the answer");
}
