//! Envoy's filter chain selection order, table-tested.

use super::*;
use envoy_types::pb::google::protobuf::UInt32Value;

fn m(f: impl FnOnce(&mut FilterChainMatch)) -> ChainMatch {
    let mut proto = FilterChainMatch::default();
    f(&mut proto);
    ChainMatch::try_from(&proto).expect("compiles")
}

fn port(p: u32) -> Option<UInt32Value> {
    Some(UInt32Value { value: p })
}

fn cidr(prefix: &str, len: u32) -> CidrRange {
    CidrRange { address_prefix: prefix.into(), prefix_len: Some(UInt32Value { value: len }) }
}

fn conn<'a>(local: &str, transport: &'a str, alpn: &'a [String], sni: Option<&'a str>) -> Connection<'a> {
    Connection {
        local: local.parse().expect("addr"),
        remote: "10.0.0.9:40000".parse().expect("addr"),
        server_name: sni,
        transport_protocol: transport,
        application_protocols: alpn,
    }
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// virtualInbound's layout: a sniffed port (HTTP and raw chains), a TCP port, the passthrough.
fn virtual_inbound() -> Vec<ChainMatch> {
    vec![
        m(|c| {
            c.destination_port = port(8080);
            c.transport_protocol = "raw_buffer".into();
            c.application_protocols = strings(&["http/1.1", "h2c"]);
        }),
        m(|c| {
            c.destination_port = port(8080);
            c.transport_protocol = "raw_buffer".into();
        }),
        m(|c| c.destination_port = port(5432)),
        ChainMatch::default(),
    ]
}

#[test]
fn destination_port_then_alpn_then_catch_all() {
    let chains = virtual_inbound();
    let refs: Vec<&ChainMatch> = chains.iter().collect();
    let h1 = strings(&["http/1.1"]);
    let h10 = strings(&["http/1.0"]);
    assert_eq!(select(&refs, &conn("10.1.0.2:8080", "raw_buffer", &h1, None)), Some(0), "sniffed HTTP");
    assert_eq!(select(&refs, &conn("10.1.0.2:8080", "raw_buffer", &[], None)), Some(1), "sniffed, not HTTP");
    assert_eq!(select(&refs, &conn("10.1.0.2:8080", "raw_buffer", &h10, None)), Some(1), "HTTP/1.0 is TCP");
    assert_eq!(select(&refs, &conn("10.1.0.2:5432", "raw_buffer", &h1, None)), Some(2), "declared TCP");
    assert_eq!(select(&refs, &conn("10.1.0.2:7777", "raw_buffer", &[], None)), Some(3), "passthrough");
    // No backtracking: port 8080 chains want raw_buffer; TLS matches none of them and does not
    // fall back to the port-less passthrough chain.
    assert_eq!(select(&refs, &conn("10.1.0.2:8080", "tls", &[], None)), None);
}

#[test]
fn longest_prefix_and_sni_specificity_win() {
    let chains = [
        m(|c| c.prefix_ranges = vec![cidr("10.0.0.0", 8)]),
        m(|c| c.prefix_ranges = vec![cidr("10.1.0.0", 16), cidr("192.168.0.0", 16)]),
        m(|c| {
            c.prefix_ranges = vec![cidr("10.1.0.0", 16)];
            c.server_names = strings(&["*.example.com"]);
        }),
        m(|c| {
            c.prefix_ranges = vec![cidr("10.1.0.0", 16)];
            c.server_names = strings(&["api.example.com"]);
        }),
        m(|c| {
            c.prefix_ranges = vec![cidr("10.1.0.0", 16)];
            c.server_names = strings(&["*.eu.example.com"]);
        }),
    ];
    let refs: Vec<&ChainMatch> = chains.iter().collect();
    let at = |local: &str, sni: Option<&str>| select(&refs, &conn(local, "tls", &[], sni));
    assert_eq!(at("10.9.0.1:443", None), Some(0), "/8 only");
    assert_eq!(at("10.1.0.1:443", None), Some(1), "/16 without SNI: the SNI-less chain");
    assert_eq!(at("10.1.0.1:443", Some("API.example.com")), Some(3), "exact SNI, case-insensitive");
    assert_eq!(at("10.1.0.1:443", Some("a.b.example.com")), Some(2), "wildcards match at any depth");
    assert_eq!(at("10.1.0.1:443", Some("x.eu.example.com")), Some(4), "the longer wildcard");
    assert_eq!(at("10.1.0.1:443", Some("example.com")), Some(1), "the bare domain is not *.example.com");
    assert_eq!(at("172.16.0.1:443", None), None, "no prefix matches and no chain is catch-all");
}

#[test]
fn source_criteria_come_last() {
    let chains = [
        m(|c| c.source_type = ConnectionSourceType::SameIpOrLoopback as i32),
        m(|c| {
            c.source_type = ConnectionSourceType::External as i32;
            c.source_prefix_ranges = vec![cidr("10.0.0.0", 24)];
            c.source_ports = vec![40000];
        }),
        m(|c| c.source_type = ConnectionSourceType::External as i32),
    ];
    let refs: Vec<&ChainMatch> = chains.iter().collect();
    let mut c = conn("10.1.0.2:80", "raw_buffer", &[], None);
    assert_eq!(select(&refs, &c), Some(1));
    c.remote = "10.0.0.9:40001".parse().expect("addr");
    assert_eq!(select(&refs, &c), None, "the /24 chain wins the source IP step, then misses the port");
    c.remote = "10.0.1.9:40000".parse().expect("addr");
    assert_eq!(select(&refs, &c), Some(2));
    c.remote = "127.0.0.1:40000".parse().expect("addr");
    assert_eq!(select(&refs, &c), Some(0));
}

#[test]
fn unsupported_and_invalid_matches_are_named() {
    let e = ChainMatch::try_from(&FilterChainMatch { address_suffix: "x".into(), ..Default::default() });
    assert!(e.expect_err("not implemented").to_string().contains("field number 4"));
    let bad = FilterChainMatch { server_names: strings(&["a*.example.com"]), ..Default::default() };
    let e = ChainMatch::try_from(&bad).expect_err("partial wildcard");
    assert!(e.to_string().starts_with("server_names: partial wildcards"), "{e}");
    let bad = FilterChainMatch { prefix_ranges: vec![cidr("10.0.0.0", 33)], ..Default::default() };
    let e = ChainMatch::try_from(&bad).expect_err("prefix too long");
    assert!(e.to_string().starts_with("prefix_ranges[0].prefix_len: "), "{e}");
}

#[test]
fn ipv4_mapped_addresses_match_ipv4_prefixes() {
    let c = Cidr::compile(&cidr("10.1.0.0", 16)).expect("cidr");
    assert!(c.contains("::ffff:10.1.2.3".parse().expect("ip")));
    assert!(!c.contains("10.2.0.1".parse().expect("ip")));
    let all = Cidr::compile(&cidr("0.0.0.0", 0)).expect("cidr");
    assert!(all.contains("192.0.2.1".parse().expect("ip")));
}
