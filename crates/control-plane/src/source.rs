//! The file config source: loads the files, keeps the last good version of any resource whose
//! new version is invalid (a bad edit must not drop a working route, as Istio's webhook would
//! have refused it), and detects changes by polling sizes and modification times.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};
use strait_config::{LoadOptions, LoadReport};
use strait_model::{Resource, Severity};
use strait_xds_server::Published;

type Key = (String, String, String);

/// File → (size, modification time): what change detection compares.
pub type Stamps = BTreeMap<String, (u64, Option<SystemTime>)>;

fn key(r: &Resource) -> Option<Key> {
    let kind = r.kind()?.to_string();
    let m = r.metadata();
    Some((kind, m.namespace.clone().unwrap_or_default(), m.name.clone().unwrap_or_default()))
}

/// What the debug endpoints show about the source.
#[derive(Default)]
pub struct SourceState {
    /// Resources in force.
    pub resources: Vec<Resource>,
    /// Problems of the last load (`file:line:col: …`).
    pub problems: Vec<String>,
}

/// Config loaded from files and directories.
pub struct FileSource {
    paths: Vec<String>,
    opts: LoadOptions,
    stamps: Stamps,
    last_good: BTreeMap<Key, Resource>,
    version: u64,
    state: Arc<Mutex<SourceState>>,
}

impl FileSource {
    /// A source over `paths`.
    pub fn new(paths: Vec<String>, default_namespace: String) -> Self {
        Self {
            paths,
            opts: LoadOptions { default_namespace },
            stamps: BTreeMap::new(),
            last_good: BTreeMap::new(),
            version: 0,
            state: Arc::default(),
        }
    }

    /// Shared view for debug endpoints.
    pub fn state(&self) -> Arc<Mutex<SourceState>> {
        self.state.clone()
    }

    /// Sizes and modification times of every config file now.
    pub fn scan(&self) -> Stamps {
        let mut out = BTreeMap::new();
        for p in &self.paths {
            stamp(Path::new(p), &mut out);
        }
        out
    }

    /// True when a file was added, removed or modified since the last load.
    pub fn changed(&mut self) -> bool {
        self.scan() != self.stamps
    }

    /// Loads everything and builds the next published registry.
    pub fn load(&mut self) -> Published {
        self.stamps = self.scan();
        let report = strait_config::load_paths(&self.paths, &self.opts);
        let problems = log_findings(&report);
        let rejected: Vec<Key> = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .filter_map(|f| f.object.as_ref())
            .map(|o| (o.kind.clone(), o.namespace.clone().unwrap_or_default(), o.name.clone()))
            .collect();
        let mut next: BTreeMap<Key, Resource> = BTreeMap::new();
        let mut unkeyed = Vec::new();
        for loaded in report.resources {
            match key(&loaded.resource) {
                Some(k) => {
                    next.insert(k, loaded.resource);
                }
                None => unkeyed.push(loaded.resource),
            }
        }
        for k in rejected {
            if let Some(old) = self.last_good.get(&k) {
                tracing::warn!(kind = %k.0, namespace = %k.1, name = %k.2, "invalid update rejected; keeping the last good version");
                next.insert(k, old.clone());
            }
        }
        self.last_good = next.clone();
        let resources: Vec<Resource> = next.into_values().chain(unkeyed).collect();
        let registry = strait_registry::build::build(&resources);
        if let Ok(mut s) = self.state.lock() {
            *s = SourceState { resources, problems };
        }
        self.version += 1;
        Published { version: self.version, registry, changed_at: Instant::now() }
    }
}

fn log_findings(report: &LoadReport) -> Vec<String> {
    report
        .findings
        .iter()
        .map(|f| {
            match f.severity {
                Severity::Error => tracing::error!("{f}"),
                Severity::Warning => tracing::warn!("{f}"),
            }
            format!("{}: {f}", f.severity)
        })
        .collect()
}

fn stamp(p: &Path, out: &mut Stamps) {
    let Ok(meta) = std::fs::metadata(p) else { return };
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(p) {
            for e in entries.flatten() {
                let path = e.path();
                if path.is_dir() || strait_config::files::is_config_file(&path) {
                    stamp(&path, out);
                }
            }
        }
    } else {
        out.insert(p.display().to_string(), (meta.len(), meta.modified().ok()));
    }
}
