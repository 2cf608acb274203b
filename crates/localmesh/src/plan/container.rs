//! One container → the process the local mesh runs: program and arguments (`command` then
//! `args`, `$(VAR)` expanded), environment, working directory and readiness probe. There are no
//! images here, so a container must say what to run (`command`); a command of `strait` is
//! this executable, so manifests that run built-in demo apps need nothing on PATH.

use super::PodPlan;
use super::env::{self, Context};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::time::Duration;

/// A container as a process.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerPlan {
    /// Container name (`strait logs POD -c NAME`).
    pub name: String,
    /// The image, for display only.
    pub image: Option<String>,
    /// Program then arguments, expanded. A program of `strait` means this executable.
    pub argv: Vec<String>,
    /// Environment, in order.
    pub env: Vec<(String, String)>,
    /// `workingDir`.
    pub working_dir: Option<String>,
    /// The readiness probe, if any (none: ready once started, as the kubelet does).
    pub readiness: Option<Probe>,
}

/// A readiness probe with the kubelet's timing.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// What to check.
    pub action: ProbeAction,
    /// `initialDelaySeconds`.
    pub initial_delay: Duration,
    /// `periodSeconds` (default 10).
    pub period: Duration,
    /// `timeoutSeconds` (default 1).
    pub timeout: Duration,
    /// `successThreshold` (default 1).
    pub success_threshold: u32,
    /// `failureThreshold` (default 3).
    pub failure_threshold: u32,
}

/// A probe's check.
#[derive(Clone, Debug, PartialEq)]
pub enum ProbeAction {
    /// `httpGet`: a 2xx or 3xx answer passes.
    Http {
        /// Host (default: the pod's app address).
        host: String,
        /// Port.
        port: u16,
        /// Path (default `/`).
        path: String,
    },
    /// `tcpSocket`: a connection passes.
    Tcp {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
    /// `exec`: exit status 0 passes.
    Exec {
        /// Program and arguments.
        argv: Vec<String>,
    },
}

/// Plans container `c` of `pod`.
pub(super) fn plan(
    c: &core::Container,
    pod: &PodPlan,
    ctx: &Context<'_>,
    proxy_env: bool,
) -> Result<ContainerPlan, String> {
    let env = env::resolve(super::base_env(pod, proxy_env), c.env.as_deref().unwrap_or_default(), ctx)?;
    if c.env_from.as_ref().is_some_and(|e| !e.is_empty()) {
        return Err("envFrom is not supported; list the variables under env".into());
    }
    let lookup = |name: &str| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let command = c.command.clone().unwrap_or_default();
    if command.is_empty() {
        return Err(format!(
            "no command: the local mesh runs processes, not images ({}); say what to run with `command`",
            c.image.as_deref().unwrap_or("no image")
        ));
    }
    let argv: Vec<String> = command.iter().chain(c.args.iter().flatten()).map(|a| env::expand(a, &lookup)).collect();
    let readiness = c.readiness_probe.as_ref().map(|p| probe(p, c, pod)).transpose()?;
    Ok(ContainerPlan {
        name: c.name.clone(),
        image: c.image.clone(),
        argv,
        env,
        working_dir: c.working_dir.clone().filter(|w| !w.is_empty()),
        readiness,
    })
}

fn probe(p: &core::Probe, c: &core::Container, pod: &PodPlan) -> Result<Probe, String> {
    let port = |p: &IntOrString| match p {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("probe port {n} is out of range")),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|cp| cp.name.as_deref() == Some(name))
            .and_then(|cp| u16::try_from(cp.container_port).ok())
            .ok_or_else(|| format!("probe port {name:?} names no port of the container")),
    };
    let host = |h: &Option<String>| h.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| pod.app_ip.to_string());
    let action = if let Some(h) = &p.http_get {
        if h.scheme.as_deref().is_some_and(|s| !s.eq_ignore_ascii_case("HTTP")) {
            return Err("readinessProbe.httpGet: only scheme HTTP is supported".into());
        }
        ProbeAction::Http {
            host: host(&h.host),
            port: port(&h.port)?,
            path: h.path.clone().unwrap_or_else(|| "/".into()),
        }
    } else if let Some(t) = &p.tcp_socket {
        ProbeAction::Tcp { host: host(&t.host), port: port(&t.port)? }
    } else if let Some(e) = &p.exec {
        ProbeAction::Exec { argv: e.command.clone().unwrap_or_default() }
    } else {
        return Err("readinessProbe: only httpGet, tcpSocket and exec are supported".into());
    };
    let secs = |v: Option<i32>, default: u64| Duration::from_secs(v.map_or(default, |s| s.max(0) as u64));
    let count = |v: Option<i32>, default: u32| v.map_or(default, |n| n.max(1) as u32);
    Ok(Probe {
        action,
        initial_delay: secs(p.initial_delay_seconds, 0),
        period: secs(p.period_seconds, 10).max(Duration::from_secs(1)),
        timeout: secs(p.timeout_seconds, 1).max(Duration::from_secs(1)),
        success_threshold: count(p.success_threshold, 1),
        failure_threshold: count(p.failure_threshold, 3),
    })
}
