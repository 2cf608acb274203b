//! What a running local mesh's apps actually do, for `strait analyze --mesh`: for each pod, the
//! TCP sockets its app processes listen on and the address its sidecar forwards inbound
//! traffic to (the app address). The pods, their labels and their app process ids come from
//! `mesh.json`; the sockets from `/proc`: the listening entries of `/proc/PID/net/tcp{,6}`
//! (which show the network namespace PID lives in: the host's on loopback, the pod's own
//! under `--isolation netns`) kept only when their inode is an open fd of one of the pod's app
//! processes. Every app container leads its own process group, so a shell wrapper's children
//! (`sh -c "python3 -m http.server"`) count too. The parsing is pure and table-tested; only
//! [`gather`] touches `/proc`.

use crate::supervisor::state::{MeshFile, PodEntry};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// A listening TCP socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Socket {
    /// Bound address.
    pub address: IpAddr,
    /// Port.
    pub port: u16,
    /// An IPv6 socket that takes no IPv4 connections (see [`v6_only`]).
    pub v6_only: bool,
}

/// One running pod's facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodFacts {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// The pod's labels.
    pub labels: BTreeMap<String, String>,
    /// Where the sidecar (if any) sends inbound traffic: the app address.
    pub forwards_to: IpAddr,
    /// What the app processes listen on.
    pub listening: Vec<Socket>,
}

/// The running mesh's facts: `mesh.json`, the facts of every pod whose app runs, and the
/// pods left out (not running now), each with the reason.
pub fn gather(dir: &Path) -> Result<(MeshFile, Vec<PodFacts>, Vec<String>), String> {
    let mesh = MeshFile::read(dir)?;
    if mesh.pid == 0 || !Path::new(&format!("/proc/{}", mesh.pid)).exists() {
        return Err(format!(
            "the mesh with state directory {} is not running (start it with strait up)",
            dir.display()
        ));
    }
    let groups = process_groups();
    let bindv6only = std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").is_ok_and(|s| s.trim() == "1");
    let (mut facts, mut skipped) = (Vec::new(), Vec::new());
    for pod in &mesh.pods {
        match pod_facts(pod, &groups, bindv6only) {
            Ok(f) => facts.push(f),
            Err(why) => skipped.push(format!("{}/{}: {why}", pod.namespace, pod.name)),
        }
    }
    Ok((mesh, facts, skipped))
}

fn pod_facts(pod: &PodEntry, groups: &BTreeMap<u32, Vec<u32>>, bindv6only: bool) -> Result<PodFacts, String> {
    if pod.app_pids.is_empty() || pod.app_pids.contains(&0) {
        return Err("its app is not running".into());
    }
    let forwards_to: IpAddr = pod.app_ip.parse().map_err(|e| format!("app address {:?}: {e}", pod.app_ip))?;
    let mut pids: BTreeSet<u32> = pod.app_pids.iter().copied().collect();
    for leader in &pod.app_pids {
        pids.extend(groups.get(leader).into_iter().flatten());
    }
    let inodes: BTreeSet<u64> = pids.iter().flat_map(|pid| socket_inodes(*pid)).collect();
    let first = pod.app_pids[0];
    let mut entries = Vec::new();
    for (file, v6) in [("tcp", false), ("tcp6", true)] {
        let path = format!("/proc/{first}/net/{file}");
        // A kernel without IPv6 has no tcp6.
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(_) if v6 => continue,
            Err(e) => return Err(format!("{path}: {e}")),
        };
        entries.extend(listening(&text, v6).into_iter().filter(|(_, inode)| inodes.contains(inode)));
    }
    let addrs: Vec<(IpAddr, u16)> = entries.iter().map(|(a, _)| *a).collect();
    let mut listening: Vec<Socket> = addrs
        .iter()
        .map(|&(address, port)| Socket { address, port, v6_only: v6_only(address, port, &addrs, bindv6only) })
        .collect();
    listening.sort_by_key(|s| (s.port, s.address));
    listening.dedup();
    Ok(PodFacts {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        labels: pod.labels.clone(),
        forwards_to,
        listening,
    })
}

/// Whether the IPv6 wildcard socket on `port` is IPV6_V6ONLY. `/proc` does not say; the
/// system default (`net.ipv6.bindv6only`) decides, except that a `0.0.0.0` socket on the same
/// port of the same pod means the `::` one must be v6-only (a dual-stack one would have
/// taken the IPv4 port).
pub fn v6_only(address: IpAddr, port: u16, all: &[(IpAddr, u16)], bindv6only: bool) -> bool {
    match address {
        IpAddr::V6(a) if a.is_unspecified() => bindv6only || all.contains(&(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
        _ => false,
    }
}

/// Process groups: leader → every process in the group (from `/proc/*/stat`).
fn process_groups() -> BTreeMap<u32, Vec<u32>> {
    let mut groups: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return groups };
    for entry in dir.flatten() {
        if let Some((pid, pgrp)) =
            std::fs::read_to_string(entry.path().join("stat")).ok().as_deref().and_then(pid_and_group)
        {
            groups.entry(pgrp).or_default().push(pid);
        }
    }
    groups
}

/// The socket inodes among `/proc/PID/fd`.
fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| socket_inode(&l.to_string_lossy()))
        .collect()
}

/// `socket:[12345]` → 12345.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// `/proc/PID/stat` → (pid, process group). The command name is in parentheses and may hold
/// spaces or parentheses itself, so fields are counted from the last `)`.
pub fn pid_and_group(stat: &str) -> Option<(u32, u32)> {
    let pid = stat.split_once(' ')?.0.parse().ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state, ppid, pgrp.
    let pgrp = rest.split_whitespace().nth(2)?.parse().ok()?;
    Some((pid, pgrp))
}

/// A listening socket in a `/proc/net/tcp` table: ((address, port), inode).
pub type Entry = ((IpAddr, u16), u64);

/// The sockets in LISTEN state (`st` 0A) of a `/proc/net/tcp` (`v6`: `tcp6`) table.
pub fn listening(table: &str, v6: bool) -> Vec<Entry> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" {
                return None;
            }
            let addr = local_address(f[1], v6)?;
            Some((addr, f[9].parse().ok()?))
        })
        .collect()
}

/// `0100007F:1F90` → 127.0.0.1:8080. The kernel prints each 32-bit word of the address as
/// the number it is in memory (so in host byte order), and the port as a number.
fn local_address(field: &str, v6: bool) -> Option<(IpAddr, u16)> {
    let (hex, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| hex.get(i * 8..i * 8 + 8).and_then(|w| u32::from_str_radix(w, 16).ok()).map(u32::to_ne_bytes);
    let ip = if v6 {
        if hex.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        for i in 0..4 {
            bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
        }
        IpAddr::V6(Ipv6Addr::from(bytes))
    } else {
        if hex.len() != 8 {
            return None;
        }
        IpAddr::V4(Ipv4Addr::from(word(0)?))
    };
    Some((ip, port))
}

#[cfg(test)]
mod tests;
