//! `strait proxy-config clusters|listeners|routes|endpoints|secret|bootstrap|all PROXY`: reads the
//! proxy's own Envoy admin (`/config_dump`, `/clusters`), found through the control plane's
//! `/debug/syncz`, and prints it in istioctl's columns, or the raw JSON with `-o json`.

use serde_json::Value;
use std::process::ExitCode;

/// What to show.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    /// Clusters (CDS).
    Clusters,
    /// Listeners (LDS).
    Listeners,
    /// Route configurations (RDS).
    Routes,
    /// Endpoints with health (EDS).
    Endpoints,
    /// SDS secrets: names, types and certificate validity (never keys).
    Secret,
    /// The bootstrap.
    Bootstrap,
    /// Everything.
    All,
}

/// Arguments of `strait proxy-config`.
#[derive(clap::Args)]
pub struct Args {
    /// What to show.
    #[arg(value_enum)]
    what: What,
    /// The proxy: `POD.NAMESPACE` or `POD` (as `strait proxy-status` lists it).
    proxy: String,
    /// The control plane's debug address.
    #[arg(long, default_value = "127.0.0.1:15014")]
    control_plane: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

fn admin_of(control_plane: &str, proxy: &str) -> Result<String, String> {
    let (_, body) = super::http::get(control_plane, "/debug/syncz")?;
    let rows: Value = serde_json::from_str(&body).map_err(|e| format!("bad /debug/syncz: {e}"))?;
    let row = rows
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| {
            let pod_ns = super::proxy_name(r["proxy"].as_str().unwrap_or_default());
            pod_ns == proxy || pod_ns.split('.').next() == Some(proxy)
        })
        .ok_or_else(|| format!("no proxy {proxy:?} is connected to the control plane at {control_plane}"))?;
    row["admin"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("proxy {proxy:?} did not announce its admin address"))
}

pub(super) fn section<'a>(dump: &'a Value, ty: &str) -> Option<&'a Value> {
    // By the whole type name: `ScopedRoutesConfigDump` also ends with `RoutesConfigDump`.
    let dotted = format!(".{ty}");
    dump["configs"].as_array()?.iter().find(|c| c["@type"].as_str().is_some_and(|t| t.ends_with(&dotted)))
}

fn table(rows: Vec<Vec<String>>) {
    let Some(first) = rows.first() else { return };
    let widths: Vec<usize> = (0..first.len()).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    for row in &rows {
        let line: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", line.join("   ").trim_end());
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn clusters(dump: &Value) -> Vec<Vec<String>> {
    let mut rows = vec![["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE"].map(String::from).to_vec()];
    let Some(sec) = section(dump, "ClustersConfigDump") else { return rows };
    let all = sec["static_clusters"].as_array().into_iter().chain(sec["dynamic_active_clusters"].as_array()).flatten();
    for c in all {
        let c = &c["cluster"];
        let name = s(&c["name"]);
        let ty = c["type"].as_str().map(str::to_string).unwrap_or_else(|| "EDS".into());
        let parts: Vec<&str> = name.split('|').collect();
        rows.push(match parts.as_slice() {
            [dir, port, subset, host] => vec![
                host.to_string(),
                port.to_string(),
                if subset.is_empty() { "-".into() } else { subset.to_string() },
                dir.to_string(),
                ty,
            ],
            _ => vec![name, "-".into(), "-".into(), "-".into(), ty],
        });
    }
    rows
}

fn listeners(dump: &Value) -> Vec<Vec<String>> {
    let mut rows = vec![["NAME", "ADDRESS", "PORT", "DESTINATION"].map(String::from).to_vec()];
    let Some(sec) = section(dump, "ListenersConfigDump") else { return rows };
    let statics = sec["static_listeners"].as_array().into_iter().flatten().map(|l| &l["listener"]);
    let dynamics = sec["dynamic_listeners"].as_array().into_iter().flatten().map(|l| &l["active_state"]["listener"]);
    for l in statics.chain(dynamics) {
        let addr = &l["address"]["socket_address"];
        let filter = &l["filter_chains"][0]["filters"][0]["typed_config"];
        let dest = if let Some(rds) = filter["rds"]["route_config_name"].as_str() {
            format!("Route: {rds}")
        } else if let Some(c) = filter["cluster"].as_str() {
            format!("Cluster: {c}")
        } else if filter["route_config"].is_object() {
            "Inline Route".into()
        } else {
            "-".into()
        };
        rows.push(vec![s(&l["name"]), s(&addr["address"]), s(&addr["port_value"]), dest]);
    }
    rows
}

fn routes(dump: &Value) -> Vec<Vec<String>> {
    let mut rows = vec![["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"].map(String::from).to_vec()];
    let Some(sec) = section(dump, "RoutesConfigDump") else { return rows };
    let statics = sec["static_route_configs"].as_array().into_iter().flatten();
    let dynamics = sec["dynamic_route_configs"].as_array().into_iter().flatten();
    for rc in statics.chain(dynamics).map(|r| &r["route_config"]) {
        for vh in rc["virtual_hosts"].as_array().into_iter().flatten() {
            let domains: Vec<String> = vh["domains"].as_array().into_iter().flatten().map(s).collect();
            let shown = if domains.len() > 2 {
                format!("{} + {} more...", domains[0], domains.len() - 1)
            } else {
                domains.join(", ")
            };
            for r in vh["routes"].as_array().into_iter().flatten() {
                let m = &r["match"];
                let matcher = ["prefix", "path", "safe_regex"]
                    .iter()
                    .find_map(|k| m.get(*k).map(|v| if *k == "safe_regex" { s(&v["regex"]) } else { s(v) }));
                let vs = r["metadata"]["filter_metadata"]["istio"]["config"]
                    .as_str()
                    .and_then(|c| c.rsplit('/').next())
                    .unwrap_or("-");
                rows.push(vec![
                    s(&rc["name"]),
                    s(&vh["name"]),
                    shown.clone(),
                    matcher.unwrap_or_else(|| "/*".into()),
                    vs.into(),
                ]);
            }
        }
    }
    rows
}

fn endpoints(clusters_json: &Value) -> Vec<Vec<String>> {
    let mut rows = vec![["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"].map(String::from).to_vec()];
    for c in clusters_json["cluster_statuses"].as_array().into_iter().flatten() {
        for h in c["host_statuses"].as_array().into_iter().flatten() {
            let a = &h["address"]["socket_address"];
            let status = h["health_status"]["eds_health_status"].as_str().unwrap_or("HEALTHY");
            let outlier =
                if h["health_status"]["failed_outlier_check"].as_bool() == Some(true) { "FAILED" } else { "OK" };
            rows.push(vec![
                format!("{}:{}", s(&a["address"]), s(&a["port_value"])),
                status.into(),
                outlier.into(),
                s(&c["name"]),
            ]);
        }
    }
    rows
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    match show(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn show(args: &Args) -> Result<(), String> {
    let admin = admin_of(&args.control_plane, &args.proxy)?;
    let fetch = |path: &str| -> Result<Value, String> {
        let (_, body) = super::http::get(&admin, path)?;
        serde_json::from_str(&body).map_err(|e| format!("bad JSON from {admin}{path}: {e}"))
    };
    let dump = fetch("/config_dump")?;
    let want = |w: What| args.what == w || args.what == What::All;
    if let Format::Json = args.output {
        let out = match args.what {
            What::Endpoints => fetch("/clusters?format=json")?,
            What::Bootstrap => section(&dump, "BootstrapConfigDump").cloned().unwrap_or_default(),
            What::Clusters => section(&dump, "ClustersConfigDump").cloned().unwrap_or_default(),
            What::Listeners => section(&dump, "ListenersConfigDump").cloned().unwrap_or_default(),
            What::Routes => section(&dump, "RoutesConfigDump").cloned().unwrap_or_default(),
            What::Secret => {
                super::proxy_config_secret::scrubbed(section(&dump, "SecretsConfigDump").cloned().unwrap_or_default())
            }
            What::All => super::proxy_config_secret::scrubbed(dump),
        };
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(());
    }
    if want(What::Bootstrap) && args.what == What::Bootstrap {
        let b = section(&dump, "BootstrapConfigDump").cloned().unwrap_or_default();
        println!("{}", serde_json::to_string_pretty(&b).unwrap_or_default());
    }
    let mut printed = false;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let secrets = super::proxy_config_secret::rows(&dump, i64::try_from(now).unwrap_or(i64::MAX));
    for (w, rows) in [
        (What::Clusters, clusters(&dump)),
        (What::Listeners, listeners(&dump)),
        (What::Routes, routes(&dump)),
        (What::Secret, secrets),
    ] {
        if want(w) {
            if printed {
                println!();
            }
            table(rows);
            printed = true;
        }
    }
    if want(What::Endpoints) {
        if printed {
            println!();
        }
        table(endpoints(&fetch("/clusters?format=json")?));
    }
    Ok(())
}
