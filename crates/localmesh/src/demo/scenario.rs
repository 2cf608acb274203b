//! The demo's manifests and scenarios, compiled into the binary from `examples/demo` and
//! `examples/demo-scenarios` (the same files `strait up -f examples/demo` runs), with what each
//! scenario does to the traffic: which failures it causes on purpose, and how the driver
//! sends requests to make it visible.

use super::access_log::Entry;

/// The demo mesh's files: (name, YAML).
pub const MANIFESTS: [(&str, &str); 3] = [
    ("bookinfo.yaml", include_str!("../../../../examples/demo/bookinfo.yaml")),
    ("destination-rules.yaml", include_str!("../../../../examples/demo/destination-rules.yaml")),
    ("external.yaml", include_str!("../../../../examples/demo/external.yaml")),
];

/// A scenario of `strait demo --scenario`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// `end-user: jason` → reviews v2, everyone else → v1.
    Routing,
    /// reviews 80% v1, 20% v2.
    Shift,
    /// Half the calls to ratings aborted with 500 (FI).
    Fault,
    /// One connection and one pending request to details (UO).
    CircuitBreaker,
    /// REGISTRY_ONLY: the external books API is refused (BlackHoleCluster).
    Egress,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 5] =
        [Scenario::Routing, Scenario::Shift, Scenario::Fault, Scenario::CircuitBreaker, Scenario::Egress];

    /// The flag value.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Routing => "routing",
            Scenario::Shift => "shift",
            Scenario::Fault => "fault",
            Scenario::CircuitBreaker => "circuit-breaker",
            Scenario::Egress => "egress",
        }
    }

    /// Parses a flag value.
    pub fn parse(s: &str) -> Result<Scenario, String> {
        Scenario::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| format!("unknown scenario {s:?}; one of: {}", Scenario::ALL.map(Scenario::name).join(", ")))
    }

    /// The Istio config it applies.
    pub fn yaml(self) -> &'static str {
        match self {
            Scenario::Routing => include_str!("../../../../examples/demo-scenarios/routing.yaml"),
            Scenario::Shift => include_str!("../../../../examples/demo-scenarios/shift.yaml"),
            Scenario::Fault => include_str!("../../../../examples/demo-scenarios/fault.yaml"),
            Scenario::CircuitBreaker => include_str!("../../../../examples/demo-scenarios/circuit-breaker.yaml"),
            Scenario::Egress => include_str!("../../../../examples/demo-scenarios/egress.yaml"),
        }
    }

    /// One line on what to look for.
    pub fn summary(self) -> &'static str {
        match self {
            Scenario::Routing => "requests with `end-user: jason` (every third) go to reviews v2, the others to v1",
            Scenario::Shift => "reviews traffic splits 80% v1 / 20% v2",
            Scenario::Fault => "half the calls to ratings are aborted by the caller's sidecar: 500, flag FI",
            Scenario::CircuitBreaker => {
                "concurrent calls beyond 1 connection + 1 pending to details fail fast: 503, flag UO"
            }
            Scenario::Egress => {
                "REGISTRY_ONLY: details' calls to the external books-api end in BlackHoleCluster (503 UH)"
            }
        }
    }

    /// Whether a failed request is what this scenario causes.
    pub fn expected(self, e: &Entry) -> bool {
        match self {
            Scenario::Routing | Scenario::Shift => false,
            Scenario::Fault => e.flags == "FI",
            Scenario::CircuitBreaker => e.flags == "UO",
            Scenario::Egress => e.cluster == "BlackHoleCluster" || e.route == "block_all",
        }
    }

    /// The `end-user` of request number `n`, if any.
    pub fn user(self, n: u64) -> Option<&'static str> {
        (self == Scenario::Routing && n.is_multiple_of(3)).then_some("jason")
    }

    /// Whether the clients send in bursts (all at once) rather than evenly spread: the circuit
    /// breaker only trips when calls overlap.
    pub fn bursts(self) -> bool {
        self == Scenario::CircuitBreaker
    }

    /// Concurrent clients: more than a connection and a pending request allow, for the
    /// circuit breaker; two otherwise.
    pub fn concurrency(self) -> usize {
        if self == Scenario::CircuitBreaker { 4 } else { 2 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_is_valid_config() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::parse(s.name()), Ok(s));
            let mut report = strait_config::LoadReport::default();
            strait_config::load_text(s.name(), s.yaml(), &strait_config::LoadOptions::default(), &mut report);
            assert_eq!(report.errors(), 0, "{}: {:?}", s.name(), report.findings);
            assert!(!report.resources.is_empty(), "{}", s.name());
        }
        for (name, text) in MANIFESTS {
            let mut report = strait_config::LoadReport::default();
            strait_config::load_text(name, text, &strait_config::LoadOptions::default(), &mut report);
            assert_eq!(report.errors(), 0, "{name}: {:?}", report.findings);
        }
        assert!(Scenario::parse("nope").unwrap_err().contains("routing"));
    }

    #[test]
    fn the_demo_manifests_plan() {
        let mut report = strait_config::LoadReport::default();
        for (name, text) in MANIFESTS {
            strait_config::load_text(name, text, &strait_config::LoadOptions::default(), &mut report);
        }
        let resources: Vec<_> = report.resources.into_iter().map(|l| l.resource).collect();
        let plan = crate::plan::plan(&resources, crate::plan::Network::Loopback).expect("plans");
        let apps: Vec<(&str, &str)> = plan.pods.iter().map(|p| p.app_version()).collect();
        for want in [
            ("productpage", "v1"),
            ("details", "v1"),
            ("reviews", "v1"),
            ("reviews", "v2"),
            ("reviews", "v3"),
            ("ratings", "v1"),
            ("books-api", "v1"),
        ] {
            assert!(apps.contains(&want), "{want:?} in {apps:?}");
        }
        let details = plan.pods.iter().find(|p| p.deployment == "details-v1").expect("details");
        let env = &details.containers[0].env;
        assert!(env.contains(&("BOOKS_API".to_string(), "127.10.0.1:8443".to_string())), "{env:?}");
    }
}
