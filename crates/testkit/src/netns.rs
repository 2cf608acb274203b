//! Network namespaces and istio-iptables-style capture, for tests that need real traffic
//! interception (and, later, for a local mesh that isolates each workload): [`Netns`] creates
//! a named namespace (`ip netns add`, loopback up) and deletes it when dropped — also while a
//! failed test unwinds —; [`Netns::link`] joins two namespaces with a veth pair (`eth0` on
//! both sides); [`Netns::command`] runs a program inside (`ip netns exec`), [`Netns::run`]
//! runs a closure on a thread that joined the namespace, so sockets it opens (servers bound
//! by the test itself, clients) live there; [`Capture`] installs the NAT rules istio-iptables
//! installs in a pod (`ISTIO_OUTPUT` REDIRECT to 15001 except the proxy's own uid/gid and
//! 127.0.0.6, `ISTIO_INBOUND` REDIRECT to 15006 except the proxy's ports) with
//! `iptables-restore`, in one transaction.
//!
//! Names start with [`PREFIX`] and carry the creating process id, so [`cleanup_stale`] can
//! delete what a killed test run left behind without touching another run's namespaces.
//! Root is required: [`check_available`] says why not, so tests can skip (or fail under CI).

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

/// Every namespace made here is named `PREFIX-PID-…`.
pub const PREFIX: &str = "strait-cap";

/// A named network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

/// Runs `ip ARGS`; Err carries its stderr.
pub fn ip(args: &[&str]) -> Result<(), String> {
    run_tool("ip", args, None)
}

fn run_tool(tool: &str, args: &[&str], stdin: Option<&str>) -> Result<(), String> {
    let mut cmd = Command::new(tool);
    cmd.args(args).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("{tool}: {e}"))?;
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        input.write_all(text.as_bytes()).map_err(|e| format!("{tool} stdin: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("{tool}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!("{tool} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|ids| ids.split_whitespace().nth(1)) == Some("0")
}

/// Ok when namespaces and capture can be set up here: root, `ip`, `iptables-restore`.
pub fn check_available() -> Result<(), String> {
    if !is_root() {
        return Err("not running as root (network namespaces and iptables need it)".into());
    }
    for tool in ["ip", "iptables-restore"] {
        let found = Command::new(tool).arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
        if !found {
            return Err(format!("{tool} not found (apt-get install iproute2 iptables)"));
        }
    }
    Ok(())
}

/// Deletes `PREFIX-PID-…` namespaces whose process is gone (left by a killed test run).
pub fn cleanup_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    let names: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{PREFIX}-")))
        .map(str::to_string)
        .collect();
    for name in names {
        let pid = name.trim_start_matches(&format!("{PREFIX}-")).split('-').next().unwrap_or_default();
        if pid.parse::<u32>().is_ok_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists()) {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

impl Netns {
    /// Creates `PREFIX-PID-tag` with its loopback up.
    pub fn create(tag: &str) -> Result<Netns, String> {
        let name = format!("{PREFIX}-{}-{tag}", std::process::id());
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> Result<(), String> {
        ip(&[&["-n", self.name.as_str()], args].concat())
    }

    /// Adds `address` (`IP/LEN`) to `device`.
    pub fn add_address(&self, device: &str, address: &str) -> Result<(), String> {
        self.ip(&["addr", "add", address, "dev", device])
    }

    /// Joins `self` and `other` with a veth pair named `eth0` on both sides, addressed
    /// `self_address` and `other_address` (`IP/LEN`), up.
    pub fn link(&self, self_address: &str, other: &Netns, other_address: &str) -> Result<(), String> {
        self.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "peer0"])?;
        self.ip(&["link", "set", "peer0", "netns", &other.name])?;
        other.ip(&["link", "set", "peer0", "name", "eth0"])?;
        self.add_address("eth0", self_address)?;
        other.add_address("eth0", other_address)?;
        self.ip(&["link", "set", "eth0", "up"])?;
        other.ip(&["link", "set", "eth0", "up"])
    }

    /// Sends everything not on a connected network to `gateway`.
    pub fn default_route(&self, gateway: &str) -> Result<(), String> {
        self.ip(&["route", "add", "default", "via", gateway])
    }

    /// `program` run inside the namespace (`ip netns exec NAME program`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Runs `f` on a thread inside the namespace: sockets it opens (and threads it starts)
    /// live there.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                enter(&ns).unwrap_or_else(|e| panic!("setns {path}: {e}"));
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }
}

/// Moves the calling thread into the network namespace `ns` refers to.
#[allow(unsafe_code)]
fn enter(ns: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: setns(2) on a valid, open namespace file descriptor with a constant flag; it
    // changes only this thread's network namespace and touches no memory of ours.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace also removes its end of a veth pair, and so the pair.
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("cleanup: {e}");
        }
    }
}

/// istio-iptables' NAT rules for a pod (REDIRECT mode).
#[derive(Debug, Clone)]
pub struct Capture {
    /// The proxy's uid: its own traffic is not captured.
    pub proxy_uid: u32,
    /// The proxy's gid: its own traffic is not captured either.
    pub proxy_gid: u32,
    /// Where outbound traffic is redirected (15001).
    pub outbound_port: u16,
    /// Where inbound traffic is redirected (15006).
    pub inbound_port: u16,
    /// Inbound ports left alone (the proxy's own: health, metrics, …).
    pub exclude_inbound_ports: Vec<u16>,
}

impl Capture {
    /// Istio's defaults: uid and gid 1337, 15001/15006, the proxy's ports excluded inbound.
    pub fn istio() -> Capture {
        Capture {
            proxy_uid: 1337,
            proxy_gid: 1337,
            outbound_port: 15001,
            inbound_port: 15006,
            exclude_inbound_ports: vec![15008, 15090, 15021, 15020],
        }
    }

    /// The rules, as `iptables-restore` input (the order and matches of istio-iptables).
    pub fn rules(&self) -> String {
        let (uid, gid) = (self.proxy_uid, self.proxy_gid);
        let mut r = vec![
            "*nat".to_string(),
            ":ISTIO_INBOUND - [0:0]".into(),
            ":ISTIO_IN_REDIRECT - [0:0]".into(),
            ":ISTIO_OUTPUT - [0:0]".into(),
            ":ISTIO_REDIRECT - [0:0]".into(),
            "-A PREROUTING -p tcp -j ISTIO_INBOUND".into(),
            "-A OUTPUT -p tcp -j ISTIO_OUTPUT".into(),
        ];
        r.extend(self.exclude_inbound_ports.iter().map(|p| format!("-A ISTIO_INBOUND -p tcp --dport {p} -j RETURN")));
        r.push("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT".into());
        r.push(format!("-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports {}", self.inbound_port));
        // Inbound passthrough traffic the proxy sends from 127.0.0.6 goes straight to the app.
        r.push("-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN".into());
        for owner in [format!("--uid-owner {uid}"), format!("--gid-owner {gid}")] {
            // The proxy calling its own pod IP goes through inbound; apps talking over
            // loopback are left alone; the proxy's own traffic is never captured.
            r.push(format!("-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner {owner} -j ISTIO_IN_REDIRECT"));
            r.push(format!("-A ISTIO_OUTPUT -o lo -m owner ! {owner} -j RETURN"));
            r.push(format!("-A ISTIO_OUTPUT -m owner {owner} -j RETURN"));
        }
        r.push("-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN".into());
        r.push("-A ISTIO_OUTPUT -j ISTIO_REDIRECT".into());
        r.push(format!("-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports {}", self.outbound_port));
        r.push("COMMIT".into());
        r.join("\n") + "\n"
    }

    /// Installs the rules in `ns`.
    pub fn install(&self, ns: &Netns) -> Result<(), String> {
        run_tool("ip", &["netns", "exec", ns.name(), "iptables-restore", "--noflush"], Some(&self.rules()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_istio_iptables() {
        let rules = Capture::istio().rules();
        assert!(rules.contains("-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"));
        assert!(rules.contains("-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"));
        assert!(rules.contains("-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN\n"));
        let output: Vec<&str> = rules.lines().filter(|l| l.starts_with("-A ISTIO_OUTPUT")).collect();
        assert_eq!(output.first(), Some(&"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN"));
        assert_eq!(output.last(), Some(&"-A ISTIO_OUTPUT -j ISTIO_REDIRECT"));
        assert!(output.contains(&"-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN"));
    }
}
