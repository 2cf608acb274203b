//! `/logging`, as Envoy's admin has it: `POST /logging` lists the loggers and their levels,
//! `?level=L` sets every logger, `?NAME=L` one, `?paths=NAME:L,NAME:L` several; a bad level or
//! name is a 400 with Envoy's usage text, and a GET is refused (the endpoint changes state).
//! Loggers are Envoy-style names for the proxy's modules; a change becomes an `EnvFilter`
//! directive string (the startup filter, then `strait_proxy::MODULE=LEVEL` per logger) handed
//! to the reload function the binary installed (tracing-subscriber's reload layer), so levels
//! change at run time without touching other crates' levels.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Installs a new filter (`EnvFilter` directives).
pub type Reload = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// The startup filter and how to replace it, as the binary set up logging.
#[derive(Clone, Default)]
pub struct LogControl {
    /// The startup `EnvFilter` directives (`RUST_LOG`, or `info`).
    pub base: String,
    /// Installs a new filter; None where logging cannot be changed (levels are then only
    /// tracked).
    pub reload: Option<Reload>,
}

impl std::fmt::Debug for LogControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogControl").field("base", &self.base).field("reload", &self.reload.is_some()).finish()
    }
}

/// Logger names and the module targets they cover.
const LOGGERS: [(&str, &str); 11] = [
    ("admin", "strait_proxy::admin"),
    ("config", "strait_proxy::config"),
    ("connection", "strait_proxy::listeners"),
    ("http", "strait_proxy::http"),
    ("lb", "strait_proxy::lb"),
    ("main", "strait_proxy"),
    ("router", "strait_proxy::route"),
    ("state", "strait_proxy::state"),
    ("tcp", "strait_proxy::tcp"),
    ("upstream", "strait_proxy::upstream"),
    ("xds", "strait_proxy::xds"),
];

/// Envoy's level names and tracing's.
const LEVELS: [(&str, &str); 8] = [
    ("trace", "trace"),
    ("debug", "debug"),
    ("info", "info"),
    ("warning", "warn"),
    ("warn", "warn"),
    ("error", "error"),
    ("critical", "error"),
    ("off", "off"),
];

const USAGE: &str = "usage: /logging?<name>=<level> (change single level)\n\
usage: /logging?paths=name1:level1,name2:level2,... (change multiple levels)\n\
usage: /logging?level=<level> (change all levels)\n\
levels: trace debug info warning error critical off\n";

/// The loggers' levels and how to apply them.
pub struct Logging {
    reload: Option<Reload>,
    base: String,
    levels: Mutex<BTreeMap<&'static str, &'static str>>,
}

impl std::fmt::Debug for Logging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logging").field("base", &self.base).finish_non_exhaustive()
    }
}

fn level(name: &str) -> Option<&'static str> {
    LEVELS.iter().find(|(envoy, _)| *envoy == name).map(|(envoy, _)| *envoy)
}

fn tracing_level(envoy: &str) -> &'static str {
    LEVELS.iter().find(|(e, _)| *e == envoy).map_or("info", |(_, t)| *t)
}

impl Logging {
    /// Loggers starting at the level `base` gives the proxy (its `strait_proxy=` directive,
    /// else its bare default level, else info); `reload` installs filters.
    pub fn new(base: &str, reload: Option<Reload>) -> Self {
        let directives: Vec<&str> = base.split(',').map(str::trim).collect();
        let for_proxy = directives.iter().find_map(|d| d.strip_prefix("strait_proxy="));
        let bare = directives.iter().find(|d| !d.contains('='));
        let start =
            for_proxy.or(bare.copied()).and_then(|l| LEVELS.iter().find(|(_, t)| *t == l)).map_or("info", |l| l.0);
        let start = if start == "warn" { "warning" } else { start };
        let levels = LOGGERS.iter().map(|(name, _)| (*name, start)).collect();
        Logging { reload, base: base.to_string(), levels: Mutex::new(levels) }
    }

    /// Handles a `/logging` request: (status, body).
    pub fn handle(&self, post: bool, query: &str) -> (u16, String) {
        if !post {
            return (405, "Method GET not allowed, POST required.".into());
        }
        let mut changes: Vec<(&str, &str)> = Vec::new();
        for (k, v) in query.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, ""))) {
            if k == "paths" {
                changes.extend(v.split(',').filter(|p| !p.is_empty()).map(|p| p.split_once(':').unwrap_or((p, ""))));
            } else {
                changes.push((k, v));
            }
        }
        if let Err(e) = self.apply(&changes) {
            return (400, format!("error: {e}\n\n{USAGE}"));
        }
        (200, self.list())
    }

    fn apply(&self, changes: &[(&str, &str)]) -> Result<(), String> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut levels = self.levels.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = levels.clone();
        for (name, value) in changes {
            let l = level(value).ok_or("unknown logger level")?;
            if *name == "level" {
                next.values_mut().for_each(|v| *v = l);
                continue;
            }
            let slot = LOGGERS.iter().find(|(n, _)| n == name).ok_or("unknown logger name")?;
            next.insert(slot.0, l);
        }
        if let Some(reload) = &self.reload {
            reload(&self.directives(&next)).map_err(|e| format!("cannot change the log filter: {e}"))?;
        }
        *levels = next;
        Ok(())
    }

    /// The filter for these levels: the startup filter, then one directive per logger.
    fn directives(&self, levels: &BTreeMap<&'static str, &'static str>) -> String {
        let mut out = self.base.clone();
        for (name, target) in LOGGERS {
            let l = levels.get(name).copied().unwrap_or("info");
            out.push_str(&format!(",{target}={}", tracing_level(l)));
        }
        out
    }

    /// Envoy's listing.
    pub fn list(&self) -> String {
        let levels = self.levels.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::from("active loggers:\n");
        for (name, l) in levels.iter() {
            out.push_str(&format!("  {name}: {l}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording() -> (Logging, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let reload: Reload = Arc::new(move |d: &str| {
            sink.lock().expect("lock").push(d.to_string());
            Ok(())
        });
        (Logging::new("warn,hyper=error", Some(reload)), seen)
    }

    #[test]
    fn levels_change_all_one_or_several() {
        let (log, seen) = recording();
        assert!(log.list().contains("  xds: warning\n"), "{}", log.list());
        let (status, body) = log.handle(true, "level=debug");
        assert_eq!(status, 200);
        assert!(body.starts_with("active loggers:\n") && body.contains("  http: debug\n"), "{body}");
        let last = seen.lock().expect("lock").last().cloned().unwrap_or_default();
        assert!(last.starts_with("warn,hyper=error,") && last.contains("strait_proxy::xds=debug"), "{last}");
        let (_, body) = log.handle(true, "xds=trace");
        assert!(body.contains("  xds: trace\n") && body.contains("  http: debug\n"), "{body}");
        let (_, body) = log.handle(true, "paths=http:error,tcp:critical");
        assert!(body.contains("  http: error\n") && body.contains("  tcp: critical\n"), "{body}");
        let last = seen.lock().expect("lock").last().cloned().unwrap_or_default();
        assert!(last.contains("strait_proxy::tcp=error") && last.contains("strait_proxy::xds=trace"), "{last}");
    }

    #[test]
    fn bad_requests_change_nothing() {
        let (log, seen) = recording();
        assert_eq!(log.handle(false, "level=debug").0, 405);
        let (status, body) = log.handle(true, "level=loud");
        assert_eq!(status, 400);
        assert!(body.starts_with("error: unknown logger level\n\nusage:"), "{body}");
        assert_eq!(log.handle(true, "nosuch=debug").1.lines().next(), Some("error: unknown logger name"));
        assert!(seen.lock().expect("lock").is_empty(), "no filter was installed");
        assert!(log.list().contains("  main: warning\n"));
    }
}
