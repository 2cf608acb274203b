//! Durations as Istio YAML writes them: Go `time.ParseDuration` syntax (`1h30m`, `100ms`,
//! `1.5s`), which also covers protobuf JSON's seconds form (`5s`, `0.250s`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A non-negative duration parsed from Istio's string form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// The wrapped standard duration.
    pub fn get(self) -> std::time::Duration {
        self.0
    }

    /// Parses Go duration syntax; rejects negative values.
    pub fn parse(s: &str) -> Result<Self, String> {
        parse_go_duration(s).map(Self).map_err(|why| {
            format!("invalid duration {s:?}: {why}; must be a valid duration greater than 1ms, such as \"5s\", \"250ms\" or \"1h30m\"")
        })
    }
}

fn unit_nanos(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1.0,
        "us" | "µs" | "μs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return None,
    })
}

fn parse_go_duration(s: &str) -> Result<std::time::Duration, &'static str> {
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err("negative durations are not allowed");
    }
    if rest == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    if rest.is_empty() {
        return Err("empty duration");
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err("expected a number");
        }
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        if unit.is_empty() {
            return Err("missing unit (use ns, us, ms, s, m or h)");
        }
        let scale = unit_nanos(unit).ok_or("unknown unit (use ns, us, ms, s, m or h)")?;
        let value: f64 = num.parse().map_err(|_| "expected a number")?;
        total += value * scale;
        rest = tail;
    }
    if !total.is_finite() || total > 9.2e18 {
        return Err("duration out of range");
    }
    Ok(std::time::Duration::from_nanos(total.round() as u64))
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos.is_multiple_of(1_000_000_000) {
            write!(f, "{}s", nanos / 1_000_000_000)
        } else if nanos.is_multiple_of(1_000_000) {
            write!(f, "{}ms", nanos / 1_000_000)
        } else if nanos.is_multiple_of(1_000) {
            write!(f, "{}us", nanos / 1_000)
        } else {
            write!(f, "{nanos}ns")
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_and_protobuf_forms() {
        let ms = |s: &str| Duration::parse(s).map(|d| d.0.as_millis());
        assert_eq!(ms("5s"), Ok(5000));
        assert_eq!(ms("1.5s"), Ok(1500));
        assert_eq!(ms("100ms"), Ok(100));
        assert_eq!(ms("1h30m"), Ok(5_400_000));
        assert_eq!(ms("0"), Ok(0));
        for bad in ["", "apple", "5", "-1s", "1x", "1..5s", "s"] {
            assert!(Duration::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert_eq!(Duration::parse("1500ms").map(|d| d.to_string()), Ok("1500ms".into()));
    }
}
