//! Mirrors Istio's `serviceentry.ConflictingServiceEntryProtocolAnalyzer`: ServiceEntries
//! visible in the same namespaces that define the same host and port with different protocols
//! leave the proxy one of them at random (IST0177, once per ServiceEntry).

use crate::codes::istio;
use crate::context::{Context, Reporter};
use crate::input::Obj;
use crate::util::{EXPORT_ALL, EXPORT_LOCAL, exports_to_all};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// (scope, host, port) → (protocol, ServiceEntry) of every declaration.
type Index<'a> = BTreeMap<(String, String, u32), Vec<(String, &'a Obj)>>;

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    let mut index: Index<'_> = BTreeMap::new();
    for (o, se) in ctx.service_entries() {
        let scopes: BTreeSet<String> = if exports_to_all(&se.export_to) {
            [EXPORT_ALL.to_string()].into()
        } else {
            se.export_to.iter().map(|e| if e == EXPORT_LOCAL { o.namespace.clone() } else { e.clone() }).collect()
        };
        for scope in &scopes {
            for h in &se.hosts {
                for p in &se.ports {
                    let key = (scope.clone(), h.clone(), p.number);
                    index.entry(key).or_default().push((p.protocol.clone().unwrap_or_default(), o));
                }
            }
        }
    }
    let mut reported: HashSet<String> = HashSet::new();
    for ((scope, host, port), entries) in &index {
        let mut entries = entries.clone();
        if scope != EXPORT_ALL
            && let Some(all) = index.get(&(EXPORT_ALL.to_string(), host.clone(), *port))
        {
            entries.extend(all.iter().cloned());
        }
        let protocols: BTreeSet<String> = entries.iter().map(|(p, _)| p.to_ascii_uppercase()).collect();
        if protocols.len() < 2 {
            continue;
        }
        let names: BTreeSet<String> = entries.iter().map(|(_, o)| o.full_name()).collect();
        let names = names.into_iter().collect::<Vec<_>>().join(", ");
        let protocols = protocols.into_iter().collect::<Vec<_>>().join(", ");
        for (_, o) in &entries {
            if reported.insert(o.full_name()) {
                out.at(
                    &istio::CONFLICTING_SERVICE_ENTRY_PROTOCOL,
                    o,
                    "metadata.name",
                    vec![names.clone().into(), host.clone().into(), i64::from(*port).into(), protocols.clone().into()],
                );
            }
        }
    }
}
