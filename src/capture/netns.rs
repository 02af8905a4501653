//! Doing one thing inside a network namespace: a thread of its own joins the namespace
//! (`setns`, through nix's safe wrapper), so the process and its other threads stay where
//! they are. Sockets opened in that thread belong to that namespace for their whole life.

use std::fs::File;
use std::path::PathBuf;

/// Where a namespace named like `ip netns` names it lives; a path is taken as it is.
pub fn path_of(netns: &str) -> PathBuf {
    if netns.contains('/') {
        PathBuf::from(netns)
    } else {
        PathBuf::from("/var/run/netns").join(netns)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("no network namespace {name} ({path}: {io}); `ip netns list` names them")]
    Open { name: String, path: String, io: std::io::Error },
    #[error("cannot enter network namespace {name}: {errno}; this needs root (CAP_SYS_ADMIN)")]
    Enter { name: String, errno: nix::errno::Errno },
}

/// An open handle on a network namespace, to be joined by a thread of its own.
pub struct Handle {
    name: String,
    file: File,
}

/// Opens network namespace `netns` (an `ip netns` name or a path).
pub fn open(netns: &str) -> Result<Handle, NetnsError> {
    let path = path_of(netns);
    let file = File::open(&path).map_err(|io| NetnsError::Open {
        name: netns.to_string(),
        path: path.display().to_string(),
        io,
    })?;
    Ok(Handle {
        name: netns.to_string(),
        file,
    })
}

impl Handle {
    /// Moves the calling thread (only it) into the namespace.
    pub fn enter(&self) -> Result<(), NetnsError> {
        nix::sched::setns(&self.file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|errno| NetnsError::Enter {
            name: self.name.clone(),
            errno,
        })
    }
}

/// Runs `f` in network namespace `netns` (or where the process is, for `None`).
pub fn run_in<T: Send>(netns: Option<&str>, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
    let Some(name) = netns else { return Ok(f()) };
    let ns = open(name)?;
    std::thread::scope(|s| {
        s.spawn(move || {
            ns.enter()?;
            Ok(f())
        })
        .join()
        .expect("the namespace thread panicked")
    })
}

/// The namespaces to look in: where ovnscope runs (`None`), every named one (`ip netns`), then
/// every other one a process runs in, as `/proc/PID/ns/net` — how a pod's namespace is found on
/// a node where the container runtime does not name it (its pause process holds it).
pub fn candidates() -> Vec<Option<String>> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let mut named: Vec<String> = std::fs::read_dir("/var/run/netns")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    named.sort();
    let mut seen: std::collections::HashSet<(u64, u64)> = named.iter().filter_map(|n| id(&path_of(n))).collect();
    seen.extend(id(std::path::Path::new("/proc/self/ns/net")));
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    pids.sort();
    let mut unnamed = vec![];
    for pid in pids {
        let path = format!("/proc/{pid}/ns/net");
        if let Some(i) = id(std::path::Path::new(&path)) {
            if seen.insert(i) {
                unnamed.push(path);
            }
        }
    }
    std::iter::once(None)
        .chain(named.into_iter().map(Some))
        .chain(unnamed.into_iter().map(Some))
        .collect()
}

/// The first namespace (of [`candidates`]) that has an interface called `iface`.
pub fn find_iface(iface: &str) -> Option<Option<String>> {
    candidates()
        .into_iter()
        .find(|ns| run_in(ns.as_deref(), || nix::net::if_::if_nametoindex(iface).is_ok()).unwrap_or(false))
}

/// The named namespace a process runs in (`None`: where ovnscope runs, or not a named one).
pub fn of_process(pid: u32) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let target = std::fs::metadata(format!("/proc/{pid}/ns/net")).ok()?;
    let mine = std::fs::metadata("/proc/self/ns/net").ok()?;
    if (target.dev(), target.ino()) == (mine.dev(), mine.ino()) {
        return None;
    }
    candidates()
        .into_iter()
        .flatten()
        .find(|n| std::fs::metadata(path_of(n)).is_ok_and(|m| (m.dev(), m.ino()) == (target.dev(), target.ino())))
}

/// Every namespace (of [`candidates`]) with an interface holding `ip`, with that interface.
pub fn find_addresses(ip: std::net::IpAddr) -> Vec<(Option<String>, String)> {
    candidates()
        .into_iter()
        .filter_map(|ns| {
            let name = run_in(ns.as_deref(), || {
                nix::ifaddrs::getifaddrs().ok()?.find_map(|a| {
                    let addr = a.address?;
                    let holds = match ip {
                        std::net::IpAddr::V4(v4) => addr.as_sockaddr_in().is_some_and(|s| s.ip() == v4),
                        std::net::IpAddr::V6(v6) => addr.as_sockaddr_in6().is_some_and(|s| s.ip() == v6),
                    };
                    holds.then_some(a.interface_name)
                })
            })
            .ok()
            .flatten()?;
            Some((ns, name))
        })
        .collect()
}
