//! Following a chunked request body (RFC 9112 §7.1) byte by byte, without decoding it, so
//! [`super::h1_guard`] knows where the next request head starts and can check it before
//! hyper reads it. The grammar is hyper's (CRLF line ends, optional whitespace after the size,
//! extensions ignored but bounded, trailers), so the two agree on every boundary; a size that
//! overflows 64 bits (Envoy 1.40: 400 `http1.codec_error`) or any other framing error is
//! [`Invalid`].

/// Chunk extensions beyond this many bytes per body are refused (hyper's limit).
const MAX_EXTENSIONS: u64 = 16 * 1024;
/// Trailer bytes beyond this are refused (Envoy's header limit).
const MAX_TRAILERS: usize = super::h1_head::MAX_HEAD_BYTES;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The first hex digit of a size line.
    Start,
    /// More hex digits.
    Size,
    /// Whitespace after the size.
    SizeLws,
    /// A chunk extension, up to CR.
    Extension,
    /// The LF ending a size line.
    SizeLf,
    /// Chunk data still to come.
    Data(u64),
    /// The CR after chunk data.
    DataCr,
    /// The LF after chunk data.
    DataLf,
    /// After the last chunk: a trailer line or the final CRLF.
    LineStart,
    /// Inside a trailer line.
    Trailer,
    /// The LF ending a trailer line.
    TrailerLf,
    /// The final LF.
    EndLf,
    /// The body is complete.
    End,
}

/// The body is not valid chunked framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

/// How far a scan got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// All input belonged to the body, which continues.
    More,
    /// The body ended after this many input bytes.
    Done(usize),
}

/// A chunked body being followed.
#[derive(Debug, Clone)]
pub struct Chunked {
    state: State,
    size: u64,
    extensions: u64,
    trailers: usize,
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked { state: State::Start, size: 0, extensions: 0, trailers: 0 }
    }
}

fn hex(b: u8) -> Option<u64> {
    (b as char).to_digit(16).map(u64::from)
}

impl Chunked {
    /// Follows `input`, the next bytes of the body.
    pub fn scan(&mut self, input: &[u8]) -> Result<Scan, Invalid> {
        let mut i = 0;
        while i < input.len() {
            if let State::Data(left) = self.state {
                // Chunk data is skipped in bulk.
                let take = left.min((input.len() - i) as u64);
                i += take as usize;
                self.state = if take == left { State::DataCr } else { State::Data(left - take) };
                continue;
            }
            let b = input[i];
            i += 1;
            self.state = self.step(b)?;
            if self.state == State::End {
                return Ok(Scan::Done(i));
            }
        }
        Ok(Scan::More)
    }

    fn step(&mut self, b: u8) -> Result<State, Invalid> {
        use State::*;
        Ok(match (self.state, b) {
            (Start, _) => {
                self.size = hex(b).ok_or(Invalid)?;
                Size
            }
            (Size, _) if hex(b).is_some() => {
                let digit = hex(b).unwrap_or_default();
                self.size = self.size.checked_mul(16).and_then(|s| s.checked_add(digit)).ok_or(Invalid)?;
                Size
            }
            (Size | SizeLws, b' ' | b'\t') => SizeLws,
            (Size | SizeLws, b';') => Extension,
            (Size | SizeLws | Extension, b'\r') => SizeLf,
            (Extension, b'\n') => return Err(Invalid),
            (Extension, _) => {
                self.extensions += 1;
                if self.extensions >= MAX_EXTENSIONS {
                    return Err(Invalid);
                }
                Extension
            }
            (SizeLf, b'\n') if self.size == 0 => LineStart,
            (SizeLf, b'\n') => Data(self.size),
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => Start,
            (LineStart, b'\r') => EndLf,
            (LineStart | Trailer, _) => {
                self.trailers += 1;
                if self.trailers > MAX_TRAILERS {
                    return Err(Invalid);
                }
                if b == b'\r' { TrailerLf } else { Trailer }
            }
            (TrailerLf, b'\n') => LineStart,
            (EndLf, b'\n') => End,
            _ => return Err(Invalid),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(body: &[u8]) -> Result<Scan, Invalid> {
        Chunked::default().scan(body)
    }

    #[test]
    fn finds_the_end_of_the_body() {
        assert_eq!(whole(b"3\r\nabc\r\n0\r\n\r\nGET /next"), Ok(Scan::Done(13)));
        assert_eq!(whole(b"3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"), Ok(Scan::Done(25)));
        assert_eq!(whole(b"00000000000000000003 \r\nabc\r\n0\r\n\r\n"), Ok(Scan::Done(33)));
        assert_eq!(whole(b"FFFFFFFFFFFFFFFF\r\nabc"), Ok(Scan::More), "the largest u64 size waits for data");
        // Byte by byte gives the same answer.
        let body = b"a\r\n0123456789\r\n0\r\n\r\n";
        let mut c = Chunked::default();
        let ends: Vec<_> = body.iter().map(|b| c.scan(std::slice::from_ref(b))).collect();
        assert!(ends[..body.len() - 1].iter().all(|e| *e == Ok(Scan::More)));
        assert_eq!(ends[body.len() - 1], Ok(Scan::Done(1)));
    }

    #[test]
    fn refuses_bad_framing() {
        for bad in [
            &b"FFFFFFFFFFFFFFFFF1\r\nabc\r\n"[..],
            b"3g\r\nabc\r\n",
            b"\r\n",
            b"3\nabc\n0\n\n",
            b"3\r\nabcd\r\n",
            b"3;ext\nabc",
            b"0\r\n\r\r",
        ] {
            assert_eq!(whole(bad), Err(Invalid), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
