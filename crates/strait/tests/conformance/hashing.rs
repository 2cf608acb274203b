//! Consistent-hash scenarios (DestinationRule `loadBalancer.consistentHash`): the route's
//! hash policy keys a ring-hash or Maglev cluster of three hosts. The observation is which
//! host each key lands on, so the two data planes must agree key by key (the Strait proxy
//! builds Envoy's ring and table with Envoy's hash, xxHash64), not only be sticky.

use super::*;

fn rule(hash: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: sticky}}\n\
         spec:\n  host: sticky\n  trafficPolicy:\n    loadBalancer:\n      consistentHash: {hash}\n"
    )
}

/// The version answering each of 24 keys sent by `send` (each twice: it must not move).
fn mapping(c: &Ctx, send: impl Fn(&str) -> (String, String)) -> Result<String, String> {
    let mut out = Vec::new();
    for k in 0..24 {
        let key = format!("user-{k}");
        let (first, again) = (send(&key), send(&key));
        ensure(first.0 == "200" && first == again, c, || format!("{key}: {first:?} then {again:?}"))?;
        out.push(format!("{key}→{}", first.1.trim_start_matches("sticky ")));
    }
    let versions: std::collections::BTreeSet<&str> = out.iter().filter_map(|m| m.split('→').nth(1)).collect();
    ensure(versions.len() == 3, c, || format!("24 keys should reach all three hosts: {out:?}"))?;
    Ok(out.join(" "))
}

pub fn ring_hash_header(c: &Ctx) -> Outcome {
    c.apply("sticky.yaml", &rule("{httpHeaderName: x-user}"))?;
    let map = mapping(c, |k| c.get("http://sticky:9080/?c=ring", &[&format!("x-user: {k}")]))?;
    Ok(format!("ring hash on x-user: {map}"))
}

pub fn maglev_query(c: &Ctx) -> Outcome {
    c.apply("sticky.yaml", &rule("{httpQueryParameterName: u, maglev: {tableSize: 65537}}"))?;
    let map = mapping(c, |k| c.get(&format!("http://sticky:9080/?c=maglev&u={k}"), &[]))?;
    Ok(format!("Maglev on query u: {map}"))
}

pub fn source_ip(c: &Ctx) -> Outcome {
    c.apply("sticky.yaml", &rule("{useSourceIp: true}"))?;
    let answers: Vec<_> = (0..6).map(|_| c.get("http://sticky:9080/?c=ip", &[])).collect();
    let first = answers[0].clone();
    ensure(first.0 == "200" && answers.iter().all(|a| *a == first), c, || format!("source IP: {answers:?}"))?;
    Ok(format!("source IP 127.0.0.1 → {}", first.1))
}

/// A cookie policy with a TTL: the proxy makes the cookie up (Envoy's value — xxHash64 of
/// the downstream addresses, read back from the access log — and attributes), and requests
/// that carry it stay on one host.
pub fn cookie(c: &Ctx) -> Outcome {
    c.apply("sticky.yaml", &rule("{httpCookie: {name: sticky-session, path: /, ttl: 60s}}"))?;
    let out = curl(&["-x", &c.mesh.outbound, "-D", "-", "http://sticky:9080/?c=cookie"]);
    let set = out
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    let value = set.strip_prefix("sticky-session=\"").and_then(|r| r.split_once('"')).map(|(v, _)| v.to_string());
    let shape = value.as_ref().is_some_and(|v| v.len() == 16 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        && set.ends_with("\"; Max-Age=60; Path=/; HttpOnly");
    ensure(shape, c, || format!("set-cookie: {set:?} in\n{out}"))?;
    let value = value.unwrap_or_default();
    // Envoy's value: xxHash64 of the downstream remote then local address, in hex.
    let line = c.logged(&[" /?c=cookie HTTP/"])?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (local, remote) = (fields[fields.len() - 4], fields[fields.len() - 3]);
    let want = format!("{:016x}", strait_proxy::lb::xxhash::xxh64(format!("{remote}{local}").as_bytes(), 0));
    ensure(value == want, c, || format!("cookie {value} is not xxHash64({remote}{local}) = {want}"))?;
    let cookie = format!("Cookie: sticky-session={value}");
    let answers: Vec<_> = (0..6).map(|_| c.get("http://sticky:9080/?c=cookie-again", &[&cookie])).collect();
    let first = answers[0].clone();
    ensure(first.0 == "200" && answers.iter().all(|a| *a == first), c, || format!("with the cookie: {answers:?}"))?;
    Ok("set-cookie: sticky-session=\"<16 hex digits>\"; Max-Age=60; Path=/; HttpOnly; the cookie pins a host".into())
}
