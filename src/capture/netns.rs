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

/// Runs `f` in network namespace `netns` (or where the process is, for `None`).
pub fn run_in<T: Send>(netns: Option<&str>, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
    let Some(name) = netns else { return Ok(f()) };
    let path = path_of(name);
    let file = File::open(&path).map_err(|io| NetnsError::Open {
        name: name.to_string(),
        path: path.display().to_string(),
        io,
    })?;
    std::thread::scope(|s| {
        s.spawn(move || {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|errno| NetnsError::Enter {
                name: name.to_string(),
                errno,
            })?;
            Ok(f())
        })
        .join()
        .expect("the namespace thread panicked")
    })
}
