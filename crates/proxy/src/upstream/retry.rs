//! How a retry policy's end shows in Envoy's response flags: flags are listed in the order
//! they were set, so the retry outcome (`URX` when retries ran out, `UO` when the circuit
//! breaker refused one) comes before the failure's own flag (`URX,UF`), and a fault delay
//! before both (`DI,URX`). The access log record holds `&'static str` flags, hence the table.

/// Every combination the proxy can produce, in Envoy's order.
const COMBINED: &[(&str, &str, &str)] = &[
    ("URX", "UF", "URX,UF"),
    ("URX", "UC", "URX,UC"),
    ("URX", "UT", "URX,UT"),
    ("UO", "UF", "UO,UF"),
    ("UO", "UC", "UO,UC"),
    ("UO", "UT", "UO,UT"),
    ("DI", "URX", "DI,URX"),
    ("DI", "UO", "DI,UO"),
    ("DI", "UF", "DI,UF"),
    ("DI", "UC", "DI,UC"),
    ("DI", "UT", "DI,UT"),
    ("DI", "UH", "DI,UH"),
    ("DI", "URX,UF", "DI,URX,UF"),
    ("DI", "URX,UC", "DI,URX,UC"),
    ("DI", "UO,UF", "DI,UO,UF"),
];

/// `first` then `second`, comma-separated as Envoy prints them (either may be empty). An
/// unknown pair keeps `second`, the flag that decided the response.
pub fn flags(first: &'static str, second: &'static str) -> &'static str {
    if first.is_empty() {
        return second;
    }
    if second.is_empty() {
        return first;
    }
    COMBINED.iter().find(|(a, b, _)| *a == first && *b == second).map_or(second, |(_, _, both)| both)
}

#[cfg(test)]
mod tests {
    use super::flags;
    use crate::failure::Failure;

    /// What Envoy 1.40 wrote for the same cases (conformance_e2e.rs checks them live).
    #[test]
    fn overflow_and_retried_failures_read_as_envoys() {
        let overflow = "upstream connect error or disconnect/reset before headers. reset reason: overflow";
        let f = Failure::Overflow;
        assert_eq!((f.status(), f.flag(), f.body().as_str()), (503, "UO", overflow));
        assert_eq!(f.details(), "upstream_reset_before_response_started{overflow}");
        let f = Failure::AfterRetries { last: Box::new(Failure::ConnectTimeout), retried: true, flag: "URX" };
        assert_eq!((f.status(), f.flag()), (503, "URX,UF"));
        assert_eq!(
            f.body(),
            "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: \
             connection timeout"
        );
        assert_eq!(
            (f.details().as_str(), f.transport_failure().as_str()),
            ("upstream_reset_before_response_started{connection_timeout}", "")
        );
        let f = Failure::AfterRetries {
            last: Box::new(Failure::ConnectFailure(libc::ECONNREFUSED)),
            retried: false,
            flag: "UO",
        };
        assert_eq!(f.flag(), "UO,UF");
        assert!(f.body().ends_with(". reset reason: remote connection failure"), "no retry was made: {}", f.body());
        assert_eq!(f.transport_failure(), "delayed connect error: Connection refused");
    }

    #[test]
    fn combined_in_envoy_order() {
        assert_eq!(flags("URX", "UF"), "URX,UF");
        assert_eq!(flags("", "UO"), "UO");
        assert_eq!(flags("URX", ""), "URX");
        assert_eq!(flags("DI", flags("URX", "UF")), "DI,URX,UF");
    }
}
