//! Consistent hashing as Envoy does it, so a key lands on the same host through either data
//! plane: [`Ring`] (ring hash: every host gets `scale × normalized weight` points hashed from
//! `ADDRESS_N` with xxHash64, the least-weighted host a whole number of them, sorted; a key
//! goes to the first point at or after its hash, Ketama's search) and [`Maglev`] (Google's
//! Maglev table, hosts in address order, each filling its preferred slots in turn, weighted by
//! how often it takes a turn; a key goes to slot `hash % size`). Both take a retry attempt
//! number, moving to another point as Envoy does for the `previous_hosts` predicate.

use super::xxhash::xxh64;
use std::net::SocketAddr;

/// Normalized weights (each over the sum) with their minimum and maximum.
fn normalized(weights: &[u32]) -> (Vec<f64>, f64, f64) {
    let sum: f64 = weights.iter().map(|w| f64::from(*w)).sum();
    let norm: Vec<f64> = weights.iter().map(|w| f64::from(*w) / sum).collect();
    let min = norm.iter().copied().fold(1.0, f64::min);
    let max = norm.iter().copied().fold(0.0, f64::max);
    (norm, min, max)
}

/// A hash ring over host indexes.
#[derive(Debug)]
pub struct Ring {
    points: Vec<(u64, u32)>,
}

impl Ring {
    /// Envoy's `RingHashLoadBalancer::Ring`: `min`/`max` ring sizes (defaults 1024 and 8M).
    pub fn new(hosts: &[SocketAddr], weights: &[u32], min: u64, max: u64) -> Self {
        if hosts.is_empty() {
            return Ring { points: Vec::new() };
        }
        let (norm, min_weight, _) = normalized(weights);
        let scale = ((min_weight * min as f64).ceil() / min_weight).min(max as f64);
        let mut points = Vec::with_capacity(scale.ceil() as usize);
        let (mut current, mut target) = (0.0f64, 0.0f64);
        for (index, (host, weight)) in hosts.iter().zip(&norm).enumerate() {
            target += scale * weight;
            let mut i = 0u64;
            while current < target {
                let key = format!("{host}_{i}");
                points.push((xxh64(key.as_bytes(), 0), index as u32));
                i += 1;
                current += 1.0;
            }
        }
        points.sort_by_key(|(hash, _)| *hash);
        Ring { points }
    }

    /// The host for `hash`; a retry `attempt` moves that many points on.
    pub fn pick(&self, hash: u64, attempt: u32) -> Option<usize> {
        let n = self.points.len() as i64;
        if n == 0 {
            return None;
        }
        // Ketama's search, as Envoy ports it (signed bounds, wrap to the first point).
        let (mut low, mut high, mut mid): (i64, i64, i64);
        (low, high) = (0, n);
        loop {
            mid = (low + high) / 2;
            if mid == n {
                mid = 0;
                break;
            }
            let midval = self.points[mid as usize].0;
            let before = if mid == 0 { 0 } else { self.points[mid as usize - 1].0 };
            if hash <= midval && hash > before {
                break;
            }
            if midval < hash {
                low = mid + 1;
            } else {
                high = mid - 1;
            }
            if low > high {
                mid = 0;
                break;
            }
        }
        let at = (mid + i64::from(attempt)) % n;
        Some(self.points[at as usize].1 as usize)
    }
}

/// A Maglev lookup table over host indexes.
#[derive(Debug)]
pub struct Maglev {
    table: Vec<u32>,
}

impl Maglev {
    /// Envoy's `MaglevTable` of `size` slots (a prime; default 65537).
    pub fn new(hosts: &[SocketAddr], weights: &[u32], size: u64) -> Self {
        if hosts.is_empty() || size < 2 {
            return Maglev { table: Vec::new() };
        }
        let (norm, _, max_weight) = normalized(weights);
        // Stable order: by the hashed key (the address), as Envoy sorts it.
        let mut order: Vec<(String, usize)> = hosts.iter().enumerate().map(|(i, h)| (h.to_string(), i)).collect();
        order.sort();
        struct Entry {
            index: u32,
            offset: u64,
            skip: u64,
            weight: f64,
            target: f64,
            next: u64,
        }
        let mut entries: Vec<Entry> = order
            .iter()
            .map(|(key, i)| Entry {
                index: *i as u32,
                offset: xxh64(key.as_bytes(), 0) % size,
                skip: xxh64(key.as_bytes(), 1) % (size - 1) + 1,
                weight: norm[*i],
                target: 0.0,
                next: 0,
            })
            .collect();
        let mut table = vec![u32::MAX; size as usize];
        let mut filled = 0u64;
        let mut iteration = 1u32;
        while filled < size {
            for e in entries.iter_mut() {
                if filled >= size {
                    break;
                }
                if f64::from(iteration) * e.weight < e.target {
                    continue;
                }
                e.target += max_weight;
                let mut slot = (e.offset + e.skip * e.next) % size;
                while table[slot as usize] != u32::MAX {
                    e.next += 1;
                    slot = (e.offset + e.skip * e.next) % size;
                }
                table[slot as usize] = e.index;
                e.next += 1;
                filled += 1;
            }
            iteration += 1;
        }
        Maglev { table }
    }

    /// The host for `hash`; a retry `attempt` flips the hash as Envoy does.
    pub fn pick(&self, hash: u64, attempt: u32) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let hash = if attempt > 0 { hash ^ (u64::MAX - u64::from(attempt) + 1) } else { hash };
        Some(self.table[(hash % self.table.len() as u64) as usize] as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: u8) -> Vec<SocketAddr> {
        (1..=n).map(|i| SocketAddr::from(([127, 0, 0, i], 9080))).collect()
    }

    fn spread(pick: impl Fn(u64) -> Option<usize>, n: usize) -> Vec<usize> {
        let mut counts = vec![0; n];
        for k in 0..3000u64 {
            counts[pick(xxh64(format!("user-{k}").as_bytes(), 0)).expect("hosts")] += 1;
        }
        counts
    }

    #[test]
    fn ring_spreads_keys_by_weight_and_is_stable() {
        let h = hosts(3);
        let ring = Ring::new(&h, &[1, 1, 2], 1024, 8 << 20);
        assert_eq!(ring.points.len(), 1024, "a quarter of 1024 is a whole number of points");
        let counts = spread(|k| ring.pick(k, 0), 3);
        assert!(counts[2] > counts[0] && counts[2] > counts[1], "{counts:?}");
        assert!(counts.iter().all(|c| *c > 400), "{counts:?}");
        let again = Ring::new(&h, &[1, 1, 2], 1024, 8 << 20);
        assert!((0..200u64).all(|k| ring.pick(k * 7919, 0) == again.pick(k * 7919, 0)), "deterministic");
        assert_eq!(Ring::new(&[], &[], 1024, 8 << 20).pick(1, 0), None);
    }

    #[test]
    fn removing_a_host_moves_only_its_keys() {
        let h = hosts(3);
        let before = Maglev::new(&h, &[1, 1, 1], 65537);
        let after = Maglev::new(&h[..2], &[1, 1], 65537);
        let ring_before = Ring::new(&h, &[1, 1, 1], 1024, 8 << 20);
        let ring_after = Ring::new(&h[..2], &[1, 1], 1024, 8 << 20);
        let (mut moved, mut ring_moved) = (0, 0);
        for k in 0..2000u64 {
            let key = xxh64(&k.to_le_bytes(), 0);
            let b = before.pick(key, 0).expect("host");
            moved += usize::from(b != 2 && after.pick(key, 0) != Some(b));
            let b = ring_before.pick(key, 0).expect("host");
            ring_moved += usize::from(b != 2 && ring_after.pick(key, 0) != Some(b));
        }
        // Envoy's ring gives the remaining hosts more points (weights are renormalized), which
        // take some keys from each other; most stay.
        assert!(ring_moved < 400, "the ring keeps most other keys in place: {ring_moved}");
        assert!(moved < 100, "Maglev moves few other keys: {moved}");
    }

    #[test]
    fn maglev_fills_its_table_by_weight() {
        let m = Maglev::new(&hosts(2), &[3, 1], 65537);
        let mut counts = [0usize; 2];
        for slot in &m.table {
            counts[*slot as usize] += 1;
        }
        assert_eq!(counts[0] + counts[1], 65537);
        let share = counts[0] as f64 / 65537.0;
        assert!((0.74..0.76).contains(&share), "{counts:?}");
        assert_ne!(m.pick(5, 0), None);
    }
}
