//! Listener filters: `listener_filters` (and the listener's bounded wait for them) →
//! [`ListenerFilters`]. Three are implemented, the ones the control plane generates:
//! `original_dst` (restores the connection's original destination from `SO_ORIGINAL_DST`),
//! `tls_inspector` (SNI and ALPN from a ClientHello) and `http_inspector` (HTTP/1.x or the h2
//! preface → ALPN `http/1.1`, `http/1.0` or `h2c`). Each may be disabled per connection by a
//! `filter_disabled` predicate over the destination port (as restored so far). The inspectors
//! wait for the client's first bytes for at most `listener_filters_timeout` (Envoy's default
//! 15 s; 0 is no limit); then the connection is closed, or, with
//! `continue_on_listener_filters_timeout`, matched with what was found so far.

use super::super::{ConfigError, Result, duration, no_other_fields, unpack};
use envoy_types::pb::envoy::config::listener::v3::{
    Listener as EnvoyListener, ListenerFilter, ListenerFilterChainMatchPredicate, listener_filter,
    listener_filter_chain_match_predicate::Rule,
};
use envoy_types::pb::envoy::extensions::filters::listener::http_inspector::v3::HttpInspector;
use envoy_types::pb::envoy::extensions::filters::listener::original_dst::v3::OriginalDst;
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use std::time::Duration;

/// The original destination listener filter.
pub const ORIGINAL_DST: &str = "envoy.filters.listener.original_dst";
/// The TLS inspector.
pub const TLS_INSPECTOR: &str = "envoy.filters.listener.tls_inspector";
/// The HTTP inspector.
pub const HTTP_INSPECTOR: &str = "envoy.filters.listener.http_inspector";
/// Envoy's `listener_filters_timeout` when unset.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// What a listener filter does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Restore the original destination.
    OriginalDst,
    /// Read SNI and ALPN from a TLS ClientHello.
    TlsInspector,
    /// Detect plain-text HTTP/1.x or HTTP/2.
    HttpInspector,
}

/// One listener filter and when it is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// What it does.
    pub kind: Kind,
    /// Skipped for connections this predicate matches.
    pub disabled: Option<Predicate>,
}

/// `ListenerFilterChainMatchPredicate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Predicate {
    /// Any of these.
    Or(Vec<Predicate>),
    /// All of these.
    And(Vec<Predicate>),
    /// Not this.
    Not(Box<Predicate>),
    /// Always.
    Any,
    /// Destination port in `[start, end)`.
    PortRange(i64, i64),
}

impl Predicate {
    /// Whether it holds for a connection to `port`.
    pub fn matches(&self, port: u16) -> bool {
        match self {
            Predicate::Or(ps) => ps.iter().any(|p| p.matches(port)),
            Predicate::And(ps) => ps.iter().all(|p| p.matches(port)),
            Predicate::Not(p) => !p.matches(port),
            Predicate::Any => true,
            Predicate::PortRange(start, end) => (*start..*end).contains(&i64::from(port)),
        }
    }
}

/// A listener's filters, in order, and its bounded wait for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerFilters {
    /// The filters, in order.
    pub filters: Vec<Filter>,
    /// How long the inspectors may wait for the client's bytes (None: no limit).
    pub timeout: Option<Duration>,
    /// On timeout, match a chain with what was found instead of closing the connection.
    pub continue_on_timeout: bool,
}

impl ListenerFilters {
    /// Whether any filter may need to read the client's first bytes.
    pub fn inspects(&self) -> bool {
        self.filters.iter().any(|f| f.kind != Kind::OriginalDst)
    }

    /// Whether an `original_dst` filter runs.
    pub fn restores_destination(&self) -> bool {
        self.filters.iter().any(|f| f.kind == Kind::OriginalDst)
    }
}

/// Compiles `l.listener_filters` with `listener_filters_timeout` and
/// `continue_on_listener_filters_timeout`.
pub fn compile(l: &EnvoyListener) -> Result<ListenerFilters> {
    let filters = super::super::each("listener_filters", &l.listener_filters, filter)?;
    let timeout = match duration("listener_filters_timeout", l.listener_filters_timeout.as_ref())? {
        None => Some(DEFAULT_TIMEOUT),
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
    };
    Ok(ListenerFilters { filters, timeout, continue_on_timeout: l.continue_on_listener_filters_timeout })
}

fn filter(f: &ListenerFilter) -> Result<Filter> {
    let Some(listener_filter::ConfigType::TypedConfig(any)) = &f.config_type else {
        return Err(ConfigError::new("typed_config", "a typed config is required"));
    };
    let kind = match f.name.as_str() {
        ORIGINAL_DST => {
            let c: OriginalDst = unpack("typed_config", any)?;
            no_other_fields(&c).map_err(|e| e.within("typed_config"))?;
            Kind::OriginalDst
        }
        TLS_INSPECTOR => {
            let c: TlsInspector = unpack("typed_config", any)?;
            // The read buffer size is a tuning knob (the inspector peeks what it needs).
            no_other_fields(&TlsInspector { initial_read_buffer_size: None, ..c })
                .map_err(|e| e.within("typed_config"))?;
            Kind::TlsInspector
        }
        HTTP_INSPECTOR => {
            let c: HttpInspector = unpack("typed_config", any)?;
            no_other_fields(&c).map_err(|e| e.within("typed_config"))?;
            Kind::HttpInspector
        }
        other => {
            return Err(ConfigError::new(
                "name",
                format!("listener filter {other} is not supported by the Strait proxy"),
            ));
        }
    };
    let disabled = f.filter_disabled.as_ref().map(predicate).transpose().map_err(|e| e.within("filter_disabled"))?;
    Ok(Filter { kind, disabled })
}

fn predicate(p: &ListenerFilterChainMatchPredicate) -> Result<Predicate> {
    let set = |field: &str, rules: &[ListenerFilterChainMatchPredicate]| super::super::each(field, rules, predicate);
    Ok(match &p.rule {
        Some(Rule::OrMatch(s)) => Predicate::Or(set("or_match.rules", &s.rules)?),
        Some(Rule::AndMatch(s)) => Predicate::And(set("and_match.rules", &s.rules)?),
        Some(Rule::NotMatch(inner)) => Predicate::Not(Box::new(predicate(inner).map_err(|e| e.within("not_match"))?)),
        Some(Rule::AnyMatch(true)) => Predicate::Any,
        Some(Rule::DestinationPortRange(r)) => Predicate::PortRange(i64::from(r.start), i64::from(r.end)),
        Some(Rule::AnyMatch(false)) | None => return Err(ConfigError::new("rule", "a rule is required")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::listener::v3::listener_filter_chain_match_predicate::MatchSet;
    use envoy_types::pb::envoy::r#type::v3::Int32Range;

    fn ports(start: i32, end: i32) -> ListenerFilterChainMatchPredicate {
        ListenerFilterChainMatchPredicate { rule: Some(Rule::DestinationPortRange(Int32Range { start, end })) }
    }

    #[test]
    fn the_inspector_runs_only_for_the_sniffed_ports() {
        // What the control plane generates for virtualInbound: not (8080 or 9090).
        let or = Rule::OrMatch(MatchSet { rules: vec![ports(8080, 8081), ports(9090, 9091)] });
        let not = ListenerFilterChainMatchPredicate {
            rule: Some(Rule::NotMatch(Box::new(ListenerFilterChainMatchPredicate { rule: Some(or) }))),
        };
        let p = predicate(&not).expect("compiles");
        assert!(!p.matches(8080) && !p.matches(9090), "sniffed ports keep the inspector");
        assert!(p.matches(8081) && p.matches(15006), "other ports skip it");
    }

    #[test]
    fn timeout_defaults_follow_envoy() {
        let l = EnvoyListener::default();
        let f = compile(&l).expect("compiles");
        assert_eq!((f.timeout, f.continue_on_timeout), (Some(DEFAULT_TIMEOUT), false));
        let zero = EnvoyListener { listener_filters_timeout: Some(Default::default()), ..Default::default() };
        assert_eq!(compile(&zero).expect("compiles").timeout, None, "0 s: no limit");
    }

    #[test]
    fn unknown_filters_are_nacked_by_name() {
        let l = EnvoyListener {
            listener_filters: vec![ListenerFilter {
                name: "envoy.filters.listener.proxy_protocol".into(),
                config_type: Some(listener_filter::ConfigType::TypedConfig(Default::default())),
                ..Default::default()
            }],
            ..Default::default()
        };
        let e = compile(&l).expect_err("not implemented");
        assert!(
            e.to_string()
                .starts_with("listener_filters[0].name: listener filter envoy.filters.listener.proxy_protocol")
        );
    }
}
