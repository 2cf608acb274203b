use super::*;
use crate::config::cluster::outlier::Detector as Threshold;

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, i], 80))
}

fn detector(c: OutlierConfig, n: u8) -> Arc<Detector> {
    let d = Arc::new(Detector::new(c));
    let hosts: Vec<_> = (1..=n).map(|i| (addr(i), 1)).collect();
    d.observe(&Arc::new(LoadAssignment::from_hosts(hosts.clone(), hosts)));
    d
}

fn config(consecutive_5xx: u32, max_percent: u32) -> OutlierConfig {
    OutlierConfig {
        interval: Duration::from_secs(1),
        base_ejection_time: Duration::from_secs(10),
        max_ejection_time: Duration::from_secs(300),
        max_ejection_time_jitter: Duration::ZERO,
        max_ejection_percent: max_percent,
        always_eject_one_host: false,
        consecutive_5xx: Threshold { threshold: consecutive_5xx, enforcing: 100 },
        consecutive_gateway_failure: Threshold { threshold: 5, enforcing: 0 },
        split_local_origin: false,
        consecutive_local_origin_failure: Threshold { threshold: 5, enforcing: 100 },
    }
}

#[test]
fn consecutive_5xx_ejects_at_the_threshold_and_a_success_resets() {
    let d = detector(config(3, 100), 2);
    for _ in 0..2 {
        d.report(addr(1), Outcome::Status(500));
    }
    d.report(addr(1), Outcome::Status(200));
    d.report(addr(1), Outcome::Status(503));
    assert!(!d.any_ejected(), "a success in between resets the count");
    d.report(addr(1), Outcome::ConnectFailed);
    d.report(addr(1), Outcome::Timeout);
    assert!(d.is_ejected(addr(1)) && !d.is_ejected(addr(2)), "connect failure and timeout count as 5xx");
}

#[test]
fn max_ejection_percent_limits_ejections() {
    let d = detector(config(1, 50), 2);
    d.report(addr(1), Outcome::Status(500));
    d.report(addr(2), Outcome::Status(500));
    assert!(d.is_ejected(addr(1)) && !d.is_ejected(addr(2)), "the second would make 100% > 50%");
    let d = detector(config(1, 10), 2);
    d.report(addr(1), Outcome::Status(500));
    assert!(!d.any_ejected(), "Envoy's default 10% ejects none of two hosts");
}

#[test]
fn gateway_failures_eject_only_when_enforced() {
    let mut c = config(100, 100);
    c.consecutive_gateway_failure = Threshold { threshold: 2, enforcing: 0 };
    let d = detector(c.clone(), 1);
    for _ in 0..4 {
        d.report(addr(1), Outcome::Status(502));
    }
    assert!(!d.any_ejected(), "enforcing 0%");
    c.consecutive_gateway_failure.enforcing = 100;
    let d = detector(c, 1);
    d.report(addr(1), Outcome::Status(502));
    d.report(addr(1), Outcome::Status(500));
    d.report(addr(1), Outcome::Status(504));
    assert!(!d.any_ejected(), "a non-gateway 5xx breaks the run");
    d.report(addr(1), Outcome::Status(503));
    assert!(d.is_ejected(addr(1)));
}

#[test]
fn split_mode_counts_local_failures_apart() {
    let mut c = config(2, 100);
    c.split_local_origin = true;
    c.consecutive_local_origin_failure = Threshold { threshold: 2, enforcing: 100 };
    let d = detector(c, 2);
    d.report(addr(1), Outcome::ConnectFailed);
    d.report(addr(1), Outcome::Connected);
    d.report(addr(1), Outcome::ConnectFailed);
    d.report(addr(1), Outcome::Status(500));
    assert!(!d.any_ejected(), "a connection resets the local count; local failures are not 5xx");
    d.report(addr(1), Outcome::Timeout);
    assert!(d.is_ejected(addr(1)));
}

#[test]
fn ejection_time_grows_with_each_ejection_and_hosts_return_on_ticks() {
    let d = detector(config(1, 100), 2);
    d.report(addr(1), Outcome::Status(500));
    let t0 = Instant::now();
    d.on_interval(t0 + Duration::from_secs(9));
    assert!(d.is_ejected(addr(1)), "base ejection time is 10 s");
    d.on_interval(t0 + Duration::from_secs(11));
    assert!(!d.is_ejected(addr(1)) && !d.any_ejected());
    d.report(addr(1), Outcome::Status(500));
    let t1 = Instant::now();
    d.on_interval(t1 + Duration::from_secs(15));
    assert!(d.is_ejected(addr(1)), "second ejection: 2 × 10 s");
    d.on_interval(t1 + Duration::from_secs(21));
    assert!(!d.is_ejected(addr(1)));
}

#[test]
fn eligible_hosts_leave_out_the_ejected_and_honour_panic() {
    let d = Arc::new(Detector::new(config(1, 100)));
    let hosts = vec![(addr(1), 1), (addr(2), 1)];
    let la = Arc::new(LoadAssignment::from_hosts(hosts.clone(), hosts));
    d.observe(&la);
    d.report(addr(1), Outcome::Status(500));
    let set = d.eligible(&la, 0.0).expect("not in panic mode");
    assert_eq!(set.hosts, [addr(2)]);
    assert!(d.eligible(&la, 60.0).is_none(), "1 of 2 left is below a 60% panic threshold");
    d.report(addr(2), Outcome::Status(500));
    let none = d.eligible(&la, 0.0).expect("panic threshold 0 never panics");
    assert!(none.hosts.is_empty(), "no healthy upstream");
}
