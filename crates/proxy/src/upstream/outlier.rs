//! Outlier detection at run time, as Envoy's `DetectorImpl`: every attempt's outcome is
//! reported per host ([`Outcome`]); consecutive 5xx, consecutive gateway failures (502/503/504)
//! and, when split, consecutive local-origin failures count up and eject the host the moment a
//! counter reaches its threshold — if the enforcement roll allows and ejecting keeps the
//! ejected share within `max_ejection_percent`. An ejection lasts `base_ejection_time ×` the
//! host's back-off (which grows with each ejection and shrinks each interval the host stays
//! healthy), capped by `max_ejection_time`, plus jitter; hosts come back on the interval
//! ticks. Ejected hosts leave the load-balancing set ([`Detector::eligible`]); with none left
//! (Istio sets the panic threshold to 0) the request gets `no healthy upstream`.

use crate::config::cluster::outlier::{Detector as Threshold, OutlierConfig};
use crate::config::cluster::{HostSet, LoadAssignment};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// What happened to one attempt on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream answered with this status.
    Status(u16),
    /// The connection failed, or was reset before the response.
    ConnectFailed,
    /// The attempt timed out.
    Timeout,
    /// A connection was made and the protocol above it will report (HTTP).
    Connected,
    /// A connection was made and that is the whole transaction (TCP).
    ConnectedFinal,
}

/// Per-host counters and ejection state.
#[derive(Debug, Default)]
struct Monitor {
    consecutive_5xx: u32,
    consecutive_gateway: u32,
    consecutive_local: u32,
    ejected_at: Option<Instant>,
    jitter: Duration,
    backoff: u32,
    last_unejected: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Consecutive5xx,
    ConsecutiveGateway,
    ConsecutiveLocal,
}

/// The outlier detector of one cluster.
#[derive(Debug)]
pub struct Detector {
    config: OutlierConfig,
    hosts: Mutex<HashMap<SocketAddr, Monitor>>,
    /// Ejected hosts right now: the pick path's cheap check.
    ejected: AtomicUsize,
    /// Bumped on every ejection and unejection (the eligible-set cache key).
    generation: AtomicU64,
    ticking: AtomicBool,
    cache: Mutex<Option<Cached>>,
    /// The cluster's host count (the base of `max_ejection_percent`) and the identity of the
    /// host set it was read from.
    total: AtomicUsize,
    seen: AtomicUsize,
}

/// The eligible hosts for one host set at one generation.
#[derive(Debug)]
struct Cached {
    generation: u64,
    panic_threshold: u64,
    assignment: Weak<LoadAssignment>,
    set: Option<Arc<HostSet>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Detector {
    /// A detector with no host ejected.
    pub fn new(config: OutlierConfig) -> Self {
        Detector {
            config,
            hosts: Mutex::default(),
            ejected: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            ticking: AtomicBool::new(false),
            cache: Mutex::new(None),
            total: AtomicUsize::new(0),
            seen: AtomicUsize::new(0),
        }
    }

    /// Notes the cluster's current hosts (called on every pick; cheap unless the host set
    /// changed, when the monitors of departed hosts are dropped).
    pub fn observe(&self, la: &Arc<LoadAssignment>) {
        let id = Arc::as_ptr(la) as usize;
        let hosts = &la.all.hosts;
        if self.seen.load(Ordering::Acquire) == id && self.total.load(Ordering::Acquire) == hosts.len() {
            return;
        }
        self.seen.store(id, Ordering::Release);
        self.total.store(hosts.len(), Ordering::Release);
        let mut map = lock(&self.hosts);
        if map.keys().any(|a| !hosts.contains(a)) {
            self.forget_departed(&mut map, hosts);
        }
    }

    /// True when some host is ejected.
    pub fn any_ejected(&self) -> bool {
        self.ejected.load(Ordering::Acquire) > 0
    }

    /// True when `addr` is ejected.
    pub fn is_ejected(&self, addr: SocketAddr) -> bool {
        lock(&self.hosts).get(&addr).is_some_and(|m| m.ejected_at.is_some())
    }

    /// Records `outcome` for `addr`.
    pub fn report(self: &Arc<Self>, addr: SocketAddr, outcome: Outcome) {
        self.start_ticking();
        let total = self.total.load(Ordering::Acquire);
        let mut map = lock(&self.hosts);
        let m = map.entry(addr).or_default();
        let triggered = self.count(m, outcome);
        let total = total.max(map.len());
        for kind in triggered.into_iter().flatten() {
            self.on_consecutive(&mut map, addr, kind, total);
        }
    }

    /// Updates the counters; returns the detectors whose threshold was just reached.
    fn count(&self, m: &mut Monitor, outcome: Outcome) -> [Option<Kind>; 2] {
        let split = self.config.split_local_origin;
        match outcome {
            Outcome::Status(code) => self.count_status(m, code),
            Outcome::ConnectFailed | Outcome::Timeout if split => {
                m.consecutive_local += 1;
                let hit = m.consecutive_local == self.config.consecutive_local_origin_failure.threshold;
                [hit.then_some(Kind::ConsecutiveLocal), None]
            }
            Outcome::ConnectFailed => self.count_status(m, 503),
            Outcome::Timeout => self.count_status(m, 504),
            Outcome::Connected | Outcome::ConnectedFinal if split => {
                m.consecutive_local = 0;
                [None, None]
            }
            Outcome::ConnectedFinal => self.count_status(m, 200),
            Outcome::Connected => [None, None],
        }
    }

    /// Envoy's `putHttpResponseCode`: the counters fire when they *reach* the threshold.
    fn count_status(&self, m: &mut Monitor, code: u16) -> [Option<Kind>; 2] {
        if code < 500 {
            m.consecutive_5xx = 0;
            m.consecutive_gateway = 0;
            return [None, None];
        }
        let mut gateway = None;
        if matches!(code, 502..=504) {
            m.consecutive_gateway += 1;
            if m.consecutive_gateway == self.config.consecutive_gateway_failure.threshold {
                gateway = Some(Kind::ConsecutiveGateway);
            }
        } else {
            m.consecutive_gateway = 0;
        }
        m.consecutive_5xx += 1;
        let five = (m.consecutive_5xx == self.config.consecutive_5xx.threshold).then_some(Kind::Consecutive5xx);
        [gateway, five]
    }

    fn threshold(&self, kind: Kind) -> Threshold {
        match kind {
            Kind::Consecutive5xx => self.config.consecutive_5xx,
            Kind::ConsecutiveGateway => self.config.consecutive_gateway_failure,
            Kind::ConsecutiveLocal => self.config.consecutive_local_origin_failure,
        }
    }

    /// Envoy's `onConsecutiveErrorWorker` + `ejectHost`.
    fn on_consecutive(&self, map: &mut HashMap<SocketAddr, Monitor>, addr: SocketAddr, kind: Kind, total: usize) {
        if map.get(&addr).is_none_or(|m| m.ejected_at.is_some()) {
            return;
        }
        let ejected = map.values().filter(|m| m.ejected_at.is_some()).count();
        let share = 100.0 * (ejected + 1) as f64 / total.max(1) as f64;
        let allowed =
            share <= f64::from(self.config.max_ejection_percent) || (self.config.always_eject_one_host && ejected == 0);
        let Some(m) = map.get_mut(&addr) else { return };
        let enforced = crate::rng::below(100) < u64::from(self.threshold(kind).enforcing);
        if allowed && enforced {
            m.ejected_at = Some(Instant::now());
            let jitter_ms = crate::rng::below(crate::upstream::millis(self.config.max_ejection_time_jitter) + 1);
            m.jitter = Duration::from_millis(jitter_ms);
            let base = self.config.base_ejection_time;
            if base.saturating_mul(m.backoff) < self.config.max_ejection_time + base {
                m.backoff += 1;
            }
            self.ejected.fetch_add(1, Ordering::AcqRel);
            self.generation.fetch_add(1, Ordering::AcqRel);
            tracing::info!(host = %addr, kind = ?kind, "outlier detection: host ejected");
        }
        match kind {
            Kind::Consecutive5xx => m.consecutive_5xx = 0,
            Kind::ConsecutiveGateway => m.consecutive_gateway = 0,
            Kind::ConsecutiveLocal => m.consecutive_local = 0,
        }
    }

    /// Drops the monitors of hosts that left the cluster.
    fn forget_departed(&self, map: &mut HashMap<SocketAddr, Monitor>, hosts: &[SocketAddr]) {
        let before = map.values().filter(|m| m.ejected_at.is_some()).count();
        map.retain(|a, _| hosts.contains(a));
        let after = map.values().filter(|m| m.ejected_at.is_some()).count();
        if after != before {
            self.ejected.fetch_sub(before - after, Ordering::AcqRel);
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Envoy's interval timer: unejects hosts whose time is up and lets the back-off of
    /// healthy hosts decay.
    pub fn on_interval(&self, now: Instant) {
        let mut map = lock(&self.hosts);
        let c = &self.config;
        for (addr, m) in map.iter_mut() {
            match m.ejected_at {
                Some(at) => {
                    let time = c.base_ejection_time.saturating_mul(m.backoff).min(c.max_ejection_time) + m.jitter;
                    if now.saturating_duration_since(at) >= time {
                        m.ejected_at = None;
                        m.consecutive_5xx = 0;
                        m.consecutive_gateway = 0;
                        m.consecutive_local = 0;
                        m.last_unejected = Some(now);
                        self.ejected.fetch_sub(1, Ordering::AcqRel);
                        self.generation.fetch_add(1, Ordering::AcqRel);
                        tracing::info!(host = %addr, "outlier detection: host unejected");
                    }
                }
                None => {
                    let healthy_for = m.last_unejected.map(|t| now.saturating_duration_since(t));
                    if healthy_for.is_some_and(|d| d >= c.interval) {
                        m.backoff = m.backoff.saturating_sub(1);
                    }
                }
            }
        }
    }

    /// Starts the interval ticks on first use (there is no runtime when configs are compiled
    /// in unit tests); the task ends when the detector (its cluster) is gone.
    fn start_ticking(self: &Arc<Self>) {
        if self.ticking.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.ticking.store(false, Ordering::Release);
            return;
        };
        let weak = Arc::downgrade(self);
        let interval = self.config.interval;
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(detector) = weak.upgrade() else { return };
                detector.on_interval(Instant::now());
            }
        });
    }

    /// The hosts to balance over while some are ejected: the healthy ones that are not
    /// ejected, or None for panic mode (fewer than `panic_threshold` percent left: use every
    /// host, as Envoy does). Cached per host set, ejection generation and threshold.
    pub fn eligible(&self, la: &Arc<LoadAssignment>, panic_threshold: f64) -> Option<Arc<HostSet>> {
        let generation = self.generation.load(Ordering::Acquire);
        let mut cache = lock(&self.cache);
        if let Some(c) = cache.as_ref()
            && c.generation == generation
            && c.panic_threshold == panic_threshold.to_bits()
            && std::ptr::eq(c.assignment.as_ptr(), Arc::as_ptr(la))
        {
            return c.set.clone();
        }
        let set = {
            let map = lock(&self.hosts);
            let healthy = la.healthy.without(|a| map.get(a).is_some_and(|m| m.ejected_at.is_some()));
            let total = la.all.hosts.len();
            let panic = total > 0 && (healthy.hosts.len() as f64) * 100.0 < panic_threshold * total as f64;
            (!panic).then(|| Arc::new(healthy))
        };
        *cache = Some(Cached {
            generation,
            panic_threshold: panic_threshold.to_bits(),
            assignment: Arc::downgrade(la),
            set: set.clone(),
        });
        set
    }
}

#[cfg(test)]
#[path = "outlier_tests.rs"]
mod tests;
