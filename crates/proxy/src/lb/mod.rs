//! Load balancing, free of I/O: [`Swrr`] (smooth weighted round robin, nginx's algorithm, so
//! an 80/20 split is exact over every 10 picks; used for weighted clusters of routes and TCP
//! proxies and for round robin over endpoints) and [`Balancer`], the endpoint picker of a
//! cluster (round robin, least request with the power of two choices, random, and Envoy's
//! consistent hashing: ring hash and Maglev, [`ring`], keyed by the route's [`hash`] policy).
//! The state a picker keeps lives in the compiled config object it belongs to, so a config
//! swap starts a fresh cycle only for what changed.

pub mod hash;
pub mod ring;
mod swrr;
pub mod xxhash;

pub use swrr::Swrr;

use crate::rng;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// The endpoint load-balancing policies we implement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Smooth weighted round robin.
    RoundRobin,
    /// Power of two choices by active requests (Envoy's default `choice_count` of 2).
    LeastRequest,
    /// Uniformly random (weighted).
    Random,
    /// Envoy's ring hash, with its minimum and maximum ring sizes.
    RingHash {
        /// Minimum ring size.
        min: u64,
        /// Maximum ring size.
        max: u64,
    },
    /// Maglev, with its (prime) table size.
    Maglev {
        /// Table size.
        table_size: u64,
    },
}

impl Policy {
    /// Whether the policy picks by the request's hash key.
    pub fn is_hashing(self) -> bool {
        matches!(self, Policy::RingHash { .. } | Policy::Maglev { .. })
    }
}

/// Picks endpoints (by index) for one cluster's host set.
#[derive(Debug)]
pub struct Balancer {
    policy: Policy,
    weights: Box<[u32]>,
    total: u64,
    rr: Option<Swrr>,
    active: Arc<[AtomicU32]>,
    hashed: Option<Hashed>,
}

/// A consistent-hash table.
#[derive(Debug)]
enum Hashed {
    Ring(ring::Ring),
    Maglev(ring::Maglev),
}

/// Counts a request as active on an endpoint until dropped (for least request).
#[derive(Debug)]
pub struct ActiveGuard {
    active: Arc<[AtomicU32]>,
    index: usize,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if let Some(a) = self.active.get(self.index) {
            a.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Balancer {
    /// A balancer over hosts with these weights (zero weights count as 1, as Envoy's default).
    pub fn new(policy: Policy, weights: &[u32]) -> Self {
        let weights: Box<[u32]> = weights.iter().map(|w| (*w).max(1)).collect();
        let total = weights.iter().map(|w| u64::from(*w)).sum();
        let rr =
            if policy == Policy::RoundRobin || !uniform(&weights) { Swrr::new(weights.iter().copied()) } else { None };
        let active = weights.iter().map(|_| AtomicU32::new(0)).collect();
        Balancer { policy, weights, total, rr, active, hashed: None }
    }

    /// A balancer for `policy` over `hosts` (consistent hashing needs their addresses).
    pub fn for_hosts(policy: Policy, hosts: &[SocketAddr], weights: &[u32]) -> Self {
        let mut b = Balancer::new(policy, weights);
        b.hashed = match policy {
            Policy::RingHash { min, max } => Some(Hashed::Ring(ring::Ring::new(hosts, &b.weights, min, max))),
            Policy::Maglev { table_size } => Some(Hashed::Maglev(ring::Maglev::new(hosts, &b.weights, table_size))),
            _ => None,
        };
        b
    }

    /// The host for a request with hash key `hash` (consistent hashing; a request without one
    /// gets a random key, as in Envoy), trying up to `attempts` points for one not in `avoid`.
    /// Other policies ignore the key.
    pub fn pick_hashed(&self, hash: Option<u64>, avoid: &[usize], attempts: u32) -> Option<usize> {
        let Some(table) = &self.hashed else { return self.pick_avoiding(avoid, attempts) };
        let key = hash.unwrap_or_else(rng::next_u64);
        let mut last = None;
        for attempt in 0..attempts.max(1) {
            last = match table {
                Hashed::Ring(r) => r.pick(key, attempt),
                Hashed::Maglev(m) => m.pick(key, attempt),
            };
            if last.is_none_or(|i| !avoid.contains(&i)) {
                break;
            }
        }
        last
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// True without hosts.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// The next host, or None without hosts.
    pub fn pick(&self) -> Option<usize> {
        if self.weights.is_empty() {
            return None;
        }
        if self.hashed.is_some() {
            return self.pick_hashed(None, &[], 1);
        }
        Some(match self.policy {
            Policy::RoundRobin | Policy::RingHash { .. } | Policy::Maglev { .. } => {
                self.rr.as_ref().map_or(0, Swrr::pick)
            }
            // Weighted least request degrades to weighted round robin (Envoy uses EDF there).
            Policy::LeastRequest if self.rr.is_some() => self.rr.as_ref().map_or(0, Swrr::pick),
            Policy::LeastRequest => self.two_choices(),
            Policy::Random => self.weighted_random(),
        })
    }

    /// Picks a host not in `avoid` (Envoy's `previous_hosts` retry predicate), trying at most
    /// `attempts` times; falls back to the last pick.
    pub fn pick_avoiding(&self, avoid: &[usize], attempts: u32) -> Option<usize> {
        let mut last = self.pick()?;
        for _ in 1..attempts.max(1) {
            if !avoid.contains(&last) {
                break;
            }
            last = self.pick()?;
        }
        Some(last)
    }

    /// Marks a request active on `index` until the guard drops.
    pub fn track(&self, index: usize) -> ActiveGuard {
        if let Some(a) = self.active.get(index) {
            a.fetch_add(1, Ordering::Relaxed);
        }
        ActiveGuard { active: self.active.clone(), index }
    }

    fn two_choices(&self) -> usize {
        let n = self.weights.len() as u64;
        let a = rng::below(n) as usize;
        let b = rng::below(n) as usize;
        let load = |i: usize| self.active[i].load(Ordering::Relaxed);
        if load(b) < load(a) { b } else { a }
    }

    fn weighted_random(&self) -> usize {
        let mut r = rng::below(self.total);
        for (i, w) in self.weights.iter().enumerate() {
            let w = u64::from(*w);
            if r < w {
                return i;
            }
            r -= w;
        }
        self.weights.len() - 1
    }
}

fn uniform(weights: &[u32]) -> bool {
    weights.windows(2).all(|w| w[0] == w[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(b: &Balancer, n: usize) -> Vec<usize> {
        let mut out = vec![0; b.len()];
        for _ in 0..n {
            out[b.pick().expect("hosts")] += 1;
        }
        out
    }

    #[test]
    fn round_robin_is_exact() {
        assert_eq!(counts(&Balancer::new(Policy::RoundRobin, &[1, 1, 1]), 9), [3, 3, 3]);
        assert_eq!(counts(&Balancer::new(Policy::RoundRobin, &[3, 1]), 8), [6, 2]);
        assert_eq!(Balancer::new(Policy::RoundRobin, &[]).pick(), None);
    }

    #[test]
    fn least_request_prefers_idle_hosts() {
        let b = Balancer::new(Policy::LeastRequest, &[1, 1]);
        let _busy = b.track(0);
        let picks = counts(&b, 200);
        // Two choices: host 0 only wins when both choices are host 0 (a quarter of the time).
        assert!(picks[1] > 120, "{picks:?}");
    }

    #[test]
    fn random_covers_every_host() {
        let picks = counts(&Balancer::new(Policy::Random, &[1, 1, 2]), 4000);
        assert!(picks.iter().all(|n| *n > 700), "{picks:?}");
        assert!(picks[2] > picks[0], "weighted: {picks:?}");
    }

    #[test]
    fn avoiding_previous_hosts() {
        let b = Balancer::new(Policy::RoundRobin, &[1, 1]);
        for _ in 0..10 {
            let first = b.pick().expect("hosts");
            assert_ne!(b.pick_avoiding(&[first], 5), Some(first));
        }
        let single = Balancer::new(Policy::RoundRobin, &[1]);
        assert_eq!(single.pick_avoiding(&[0], 5), Some(0), "the only host is used again");
    }
}
