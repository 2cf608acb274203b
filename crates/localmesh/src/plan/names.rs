//! Pod names and addresses. Names follow a ReplicaSet's (`DEPLOYMENT-HASH-SUFFIX`, characters
//! from Kubernetes' `SafeEncodeString` alphabet, the hash also set as `pod-template-hash`), so
//! the registry derives the Deployment as the workload name, as it does in a cluster. They are
//! deterministic (a hash of namespace and name, and of the replica index) so that a restarted
//! mesh has the same pods. Addresses are handed out in plan order.

use std::net::Ipv4Addr;

/// Kubernetes' alphabet for generated names (no vowels, no confusable digits).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Pods per /24 of the pod range (x.y.z.1 to x.y.z.250).
const PER_BLOCK: usize = 250;
/// Third octets available for pods (127.10.1.0 to 127.10.250.0).
const BLOCKS: usize = 250;

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(b"/") {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn encode(mut n: u64, len: usize) -> String {
    (0..len)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize];
            n /= ALPHABET.len() as u64;
            c as char
        })
        .collect()
}

/// The `pod-template-hash` of a Deployment (10 characters).
pub(super) fn template_hash(namespace: &str, deployment: &str) -> String {
    encode(fnv1a(&[namespace.as_bytes(), deployment.as_bytes()]), 10)
}

/// The 5-character suffix of replica `index`.
pub(super) fn suffix(hash: &str, index: usize) -> String {
    encode(fnv1a(&[hash.as_bytes(), index.to_string().as_bytes()]), 5)
}

/// (pod IP, app address) of the `index`th pod with an address of its own: 127.10.C.D and
/// 127.11.C.D on loopback, 198.18.C.D for both in a namespace of its own.
pub(super) fn addresses(index: usize, network: super::Network) -> Result<(Ipv4Addr, Ipv4Addr), String> {
    if index >= PER_BLOCK * BLOCKS {
        return Err(format!("more than {} pods", PER_BLOCK * BLOCKS));
    }
    let (c, d) = ((1 + index / PER_BLOCK) as u8, (1 + index % PER_BLOCK) as u8);
    Ok(match network {
        super::Network::Loopback => (Ipv4Addr::new(127, 10, c, d), Ipv4Addr::new(127, 11, c, d)),
        super::Network::Netns => (Ipv4Addr::new(198, 18, c, d), Ipv4Addr::new(198, 18, c, d)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_generated_looking() {
        let h = template_hash("default", "reviews-v1");
        assert_eq!(h, template_hash("default", "reviews-v1"));
        assert_ne!(h, template_hash("default", "reviews-v2"));
        assert_ne!(h, template_hash("other", "reviews-v1"));
        assert_eq!(h.len(), 10);
        assert!(h.bytes().all(|b| ALPHABET.contains(&b)));
        assert_ne!(suffix(&h, 0), suffix(&h, 1));
        assert_eq!(suffix(&h, 0).len(), 5);
    }

    #[test]
    fn address_table() {
        let cases = [
            (0, "127.10.1.1", "127.11.1.1"),
            (1, "127.10.1.2", "127.11.1.2"),
            (249, "127.10.1.250", "127.11.1.250"),
            (250, "127.10.2.1", "127.11.2.1"),
        ];
        for (i, ip, app) in cases {
            let (a, b) = addresses(i, super::super::Network::Loopback).expect("in range");
            assert_eq!((a.to_string().as_str(), b.to_string().as_str()), (ip, app), "{i}");
        }
        let netns = addresses(250, super::super::Network::Netns).expect("in range");
        assert_eq!(netns, (Ipv4Addr::new(198, 18, 2, 1), Ipv4Addr::new(198, 18, 2, 1)));
        assert!(addresses(PER_BLOCK * BLOCKS, super::super::Network::Loopback).is_err());
    }
}
