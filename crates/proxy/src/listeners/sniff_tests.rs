//! The inspectors' verdicts on real and partial first bytes.

use super::*;
use std::sync::Arc;

#[test]
fn http_inspector_verdicts() {
    let table: [(&[u8], Verdict<&str>); 14] = [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Verdict::Found("http/1.1")),
        (b"POST /x?y=1 HTTP/1.1\n", Verdict::Found("http/1.1")),
        (b"GET / HTTP/1.0\r\n", Verdict::Found("http/1.0")),
        (b"PATCH /a HTTP/1.1\r\n", Verdict::Found("http/1.1")),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0", Verdict::Found("h2c")),
        (b"PRI * HTTP/2.0\r\n", Verdict::NeedMore),
        (b"GE", Verdict::NeedMore),
        (b"GET /very/long/pa", Verdict::NeedMore),
        (b"GET / HTTP/1.1\r", Verdict::NeedMore),
        (b"hello\n", Verdict::No),
        (b"\r\nGET / HTTP/1.1\r\n", Verdict::No),
        (b"\x16\x03\x01\x02\x00", Verdict::No),
        (b"GET / FTP/1.1\r\n", Verdict::No),
        (b"GET / HTTP/1.1 extra\r\n", Verdict::No),
    ];
    for (data, want) in table {
        assert_eq!(http(data), want, "{:?}", String::from_utf8_lossy(data));
    }
    let long = [b"GET /".as_slice(), &[b'a'; HTTP_MAX_INSPECT]].concat();
    assert_eq!(http(&long), Verdict::TooLong, "Envoy closes past its inspect size");
}

fn client_hello(sni: &str, alpn: &[&[u8]]) -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = rustls::pki_types::ServerName::try_from(sni.to_string()).expect("name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).expect("write");
    }
    out
}

#[test]
fn tls_inspector_reads_sni_and_alpn() {
    let hello = client_hello("API.Example.com", &[b"h2", b"http/1.1"]);
    let want = ClientHello { server_name: Some("api.example.com".into()), alpn: vec!["h2".into(), "http/1.1".into()] };
    assert_eq!(tls(&hello), Verdict::Found(want));
    assert_eq!(tls(&hello[..hello.len() / 2]), Verdict::NeedMore, "half a ClientHello");
    assert_eq!(tls(&hello[..1]), Verdict::NeedMore);
    assert_eq!(tls(b"GET / HTTP/1.1\r\n"), Verdict::No);
    assert_eq!(tls(b"\x16\x01\x00"), Verdict::No, "not TLS 1.x");
    assert_eq!(http(&hello), Verdict::No, "TLS is not plain-text HTTP");
}
