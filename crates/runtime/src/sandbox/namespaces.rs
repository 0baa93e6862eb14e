//! Pod namespaces without a pause container: the network, IPC and UTS namespaces are
//! created by a short-lived thread and kept alive by bind-mounting them onto files; the
//! containers of the pod join them by path. The thread also names the UTS namespace
//! (the pod's hostname) and brings the loopback interface up.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::mounts;

/// Which namespaces to create.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Kinds {
    pub(crate) net: bool,
    pub(crate) ipc: bool,
    pub(crate) uts: bool,
}

/// The files the created namespaces are pinned at.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pinned {
    pub(crate) net: Option<PathBuf>,
    pub(crate) ipc: Option<PathBuf>,
    pub(crate) uts: Option<PathBuf>,
}

/// Creates the namespaces and pins them at `<dir>/<id>.net|ipc|uts`. Runs on a fresh
/// thread (never a pooled one: `unshare` changes the calling thread for good).
pub(crate) fn create(dir: &Path, id: &str, hostname: &str, kinds: Kinds) -> io::Result<Pinned> {
    let pinned = Pinned {
        net: kinds.net.then(|| dir.join(format!("{id}.net"))),
        ipc: kinds.ipc.then(|| dir.join(format!("{id}.ipc"))),
        uts: kinds.uts.then(|| dir.join(format!("{id}.uts"))),
    };
    let hostname = hostname.to_string();
    let job = pinned.clone();
    let result = std::thread::Builder::new()
        .name("pod-namespaces".into())
        .spawn(move || unshare_and_pin(&job, &hostname))?
        .join()
        .map_err(|_| io::Error::other("namespace thread panicked"))?;
    if let Err(err) = result {
        remove(&pinned);
        return Err(err);
    }
    Ok(pinned)
}

fn unshare_and_pin(pinned: &Pinned, hostname: &str) -> io::Result<()> {
    let mut flags = 0;
    if pinned.net.is_some() {
        flags |= libc::CLONE_NEWNET;
    }
    if pinned.ipc.is_some() {
        flags |= libc::CLONE_NEWIPC;
    }
    if pinned.uts.is_some() {
        flags |= libc::CLONE_NEWUTS;
    }
    if flags == 0 {
        return Ok(());
    }
    // SAFETY: unshare only affects this thread, which exits right after.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(io::Error::other(format!("unshare: {}", io::Error::last_os_error())));
    }
    if pinned.uts.is_some() && !hostname.is_empty() {
        // SAFETY: pointer and length describe the hostname bytes.
        if unsafe { libc::sethostname(hostname.as_ptr() as *const libc::c_char, hostname.len()) } != 0 {
            return Err(io::Error::other(format!("sethostname {hostname:?}: {}", io::Error::last_os_error())));
        }
    }
    if pinned.net.is_some() {
        loopback_up().map_err(|e| io::Error::other(format!("bringing lo up: {e}")))?;
    }
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    for (kind, path) in [("net", &pinned.net), ("ipc", &pinned.ipc), ("uts", &pinned.uts)] {
        if let Some(path) = path {
            File::create(path)?;
            let source = PathBuf::from(format!("/proc/self/task/{tid}/ns/{kind}"));
            mounts::bind(&source, path).map_err(|e| io::Error::other(format!("pinning {kind} namespace: {e}")))?;
        }
    }
    Ok(())
}

/// Sets IFF_UP on `lo` in the calling thread's network namespace.
fn loopback_up() -> io::Result<()> {
    #[repr(C)]
    struct IfReq {
        name: [u8; libc::IFNAMSIZ],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    // SAFETY: plain socket and ioctl calls on a zeroed, correctly sized ifreq.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut request: IfReq = std::mem::zeroed();
        request.name[..2].copy_from_slice(b"lo");
        // The request's type differs between glibc (unsigned long) and musl (int).
        let mut result = libc::ioctl(fd, libc::SIOCGIFFLAGS as libc::Ioctl, &mut request);
        if result == 0 {
            request.flags |= libc::IFF_UP as libc::c_short;
            result = libc::ioctl(fd, libc::SIOCSIFFLAGS as libc::Ioctl, &request);
        }
        let err = io::Error::last_os_error();
        libc::close(fd);
        if result != 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// Unpins (unmounts and deletes) the namespace files; the namespaces go when their last
/// process leaves.
pub(crate) fn remove(pinned: &Pinned) {
    for path in [&pinned.net, &pinned.ipc, &pinned.uts].into_iter().flatten() {
        if let Err(err) = mounts::unmount(path) {
            tracing::warn!(path = %path.display(), %err, "unmounting namespace failed");
        }
        let _ = std::fs::remove_file(path);
    }
}
