//! `strait logs POD [-c CONTAINER] [-f]`: a pod's container log from the mesh's state
//! directory, as `kubectl logs` shows it. POD may be a unique prefix (`reviews-v2`), since
//! pod names end in generated suffixes; the default container is the pod's first (the app),
//! `-c istio-proxy` is the sidecar (its access log included).

use crate::supervisor::state::{MeshFile, PodEntry, log_path};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

/// The pod `name` names: exact, else the only pod whose name starts with it.
pub fn find_pod<'a>(mesh: &'a MeshFile, name: &str) -> Result<&'a PodEntry, String> {
    let name = name.split_once('.').map_or(name, |(pod, _)| pod);
    if let Some(p) = mesh.pods.iter().find(|p| p.name == name) {
        return Ok(p);
    }
    let matches: Vec<&PodEntry> = mesh.pods.iter().filter(|p| p.name.starts_with(name)).collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "no pod {name:?}; pods: {}",
            mesh.pods.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
        )),
        many => Err(format!(
            "{name:?} matches {} pods: {}",
            many.len(),
            many.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Prints the log (then follows it with `follow`) to `out`.
pub fn run(dir: &Path, pod: &str, container: Option<&str>, follow: bool, out: &mut impl Write) -> Result<(), String> {
    let mesh = MeshFile::read(dir)?;
    let p = find_pod(&mesh, pod)?;
    let container = match container {
        Some(c) if p.containers.iter().any(|n| n == c) => c,
        Some(c) => {
            return Err(format!("pod {} has no container {c:?}; containers: {}", p.name, p.containers.join(", ")));
        }
        None => p.containers.first().map(String::as_str).ok_or("the pod has no containers")?,
    };
    let path = log_path(dir, &p.name, container);
    let mut file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut pos = copy(&mut file, out)?;
    if !follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(Duration::from_millis(200));
        // A restarted mesh truncates the directory: start again from the top.
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len < pos {
            pos = 0;
        }
        let _ = file.seek(SeekFrom::Start(pos));
        pos += copy(&mut file, out)?;
    }
}

fn copy(file: &mut std::fs::File, out: &mut impl Write) -> Result<u64, String> {
    let mut buf = Vec::new();
    file.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    out.write_all(&buf).map_err(|e| e.to_string())?;
    let _ = out.flush();
    Ok(buf.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> PodEntry {
        PodEntry { name: name.into(), ..Default::default() }
    }

    #[test]
    fn pods_by_name_or_prefix() {
        let mesh = MeshFile {
            pods: vec![entry("reviews-v1-abc-x"), entry("reviews-v2-def-y"), entry("reviews-v2-def-z")],
            ..Default::default()
        };
        assert_eq!(find_pod(&mesh, "reviews-v1").map(|p| p.name.as_str()), Ok("reviews-v1-abc-x"));
        assert_eq!(find_pod(&mesh, "reviews-v2-def-z.default").map(|p| p.name.as_str()), Ok("reviews-v2-def-z"));
        assert!(find_pod(&mesh, "reviews-v2").unwrap_err().contains("matches 2 pods"));
        assert!(find_pod(&mesh, "ratings").unwrap_err().contains("no pod"));
    }
}
