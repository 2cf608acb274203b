//! Which HTTP version a downstream connection speaks, decided from its first bytes exactly as
//! hyper-util's auto server decides it (HTTP/2 while the bytes match the client preface, HTTP/1
//! from the first byte that does not, or at EOF), so that only the chosen hyper connection
//! exists: the auto server holds the HTTP/1 and HTTP/2 connection states side by side in every
//! connection's task. The bytes read to decide are handed back first through [`Rewind`],
//! which keeps them inline (at most 24) instead of in a heap buffer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the first bytes said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Anything but the HTTP/2 preface.
    Http1,
    /// The HTTP/2 preface, whole.
    Http2,
}

/// Reads until the bytes either complete the HTTP/2 preface or depart from it (or the peer
/// closes); returns the version and `io` with those bytes put back.
pub async fn detect<I: AsyncRead + Unpin>(mut io: I) -> io::Result<(Version, Rewind<I>)> {
    let mut buf = [0u8; PREFACE.len()];
    let mut filled = 0;
    let mut version = Version::Http2;
    while filled < PREFACE.len() {
        let n = io.read(&mut buf[filled..]).await?;
        let read = filled..filled + n;
        filled += n;
        if n == 0 || buf[read.clone()] != PREFACE[read] {
            version = Version::Http1;
            break;
        }
    }
    Ok((version, Rewind { io, buf, start: 0, end: filled as u8, error: None }))
}

/// `io` with the bytes [`detect`] read in front of it.
#[derive(Debug)]
pub struct Rewind<I> {
    io: I,
    buf: [u8; PREFACE.len()],
    start: u8,
    end: u8,
    /// An error met reading past the put-back bytes, for the next read.
    error: Option<io::Error>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewind<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.error.take() {
            return Poll::Ready(Err(e));
        }
        if this.start < this.end {
            let rest = &this.buf[usize::from(this.start)..usize::from(this.end)];
            let n = rest.len().min(out.remaining());
            out.put_slice(&rest[..n]);
            this.start += n as u8;
            // What already arrived behind them goes in the same read: hyper handed a head in
            // two pieces keeps the larger buffer it grows for the second (16 KiB instead of
            // 8 KiB per connection, for the connection's life).
            if this.start == this.end
                && out.remaining() > 0
                && let Poll::Ready(Err(e)) = Pin::new(&mut this.io).poll_read(cx, out)
            {
                this.error = Some(e);
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, out)
    }
}

write_through!(Rewind<I>, io, I);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn detected(input: &[&[u8]]) -> (Version, Vec<u8>) {
        let (mut client, server) = tokio::io::duplex(64);
        for chunk in input {
            client.write_all(chunk).await.unwrap();
        }
        drop(client);
        let (version, mut io) = detect(server).await.unwrap();
        let mut all = Vec::new();
        io.read_to_end(&mut all).await.unwrap();
        (version, all)
    }

    #[tokio::test]
    async fn the_whole_preface_is_http2_and_nothing_is_lost() {
        let input = [&PREFACE[..10], &PREFACE[10..], b"\0\0\0\x04"];
        assert_eq!(detected(&input).await, (Version::Http2, [&PREFACE[..], b"\0\0\0\x04"].concat()));
    }

    #[tokio::test]
    async fn anything_else_is_http1_from_the_first_differing_byte() {
        let request: &[u8] = b"GET / HTTP/1.1\r\nhost: a\r\n\r\n";
        assert_eq!(detected(&[request]).await, (Version::Http1, request.to_vec()));
        // A preface cut short, then EOF.
        assert_eq!(detected(&[b"PRI * "]).await, (Version::Http1, b"PRI * ".to_vec()));
        assert_eq!(detected(&[]).await, (Version::Http1, Vec::new()));
    }

    #[tokio::test]
    async fn a_small_reader_gets_the_put_back_bytes_in_pieces() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b"POST /x HTTP/1.1\r\n").await.unwrap();
        let (version, mut io) = detect(server).await.unwrap();
        assert_eq!(version, Version::Http1);
        let mut piece = [0u8; 4];
        io.read_exact(&mut piece).await.unwrap();
        assert_eq!(&piece, b"POST");
    }

    #[tokio::test]
    async fn the_put_back_bytes_come_with_what_followed_them() {
        let (mut client, server) = tokio::io::duplex(256);
        let head: &[u8] = b"GET /a-path-longer-than-the-preface HTTP/1.1\r\nhost: a\r\n\r\n";
        client.write_all(head).await.unwrap();
        let (_, mut io) = detect(server).await.unwrap();
        let mut buf = [0u8; 256];
        let n = io.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], head, "one read gives the whole head");
    }
}
