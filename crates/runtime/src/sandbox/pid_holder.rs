//! The shared PID namespace of a pod (`shareProcessNamespace`). A PID namespace dies with
//! its first process, so it cannot be pinned by a mount alone: a tiny holder process is
//! PID 1 of the namespace, reaps the orphans that end up with it, and is killed when the
//! sandbox is removed. It is a clone of the agent that runs no Rust code after the clone,
//! only raw system calls, so it is safe to make from a multi-threaded process.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::mounts;

/// Starts the holder and pins its PID namespace at `path`. Returns the holder's pid.
pub(crate) fn start(path: &Path) -> io::Result<u32> {
    // SAFETY: clone with a null stack and SIGCHLD behaves like fork; the child runs only
    // async-signal-safe system calls and never returns.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWPID | libc::SIGCHLD) as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: we are the child; see holder_main.
        unsafe { holder_main() }
    }
    let pid = pid as u32;
    let pin = || -> io::Result<()> {
        std::fs::File::create(path)?;
        mounts::bind(Path::new(&format!("/proc/{pid}/ns/pid")), path)
    };
    if let Err(err) = pin() {
        stop(pid, None);
        let _ = std::fs::remove_file(path);
        return Err(err);
    }
    Ok(pid)
}

/// The holder: close every inherited descriptor, block all signals, and reap children
/// whenever SIGCHLD arrives. Only SIGKILL from outside the namespace ends it.
unsafe fn holder_main() -> ! {
    // SAFETY: raw system calls and libc sigset helpers only (async-signal-safe).
    unsafe {
        if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
            for fd in 0..4096 {
                libc::close(fd);
            }
        }
        libc::setsid();
        libc::prctl(libc::PR_SET_NAME, c"k3rs-pod-init".as_ptr() as libc::c_ulong, 0, 0, 0);
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
        let mut chld: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut chld);
        libc::sigaddset(&mut chld, libc::SIGCHLD);
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::sigtimedwait(&chld, &mut info, std::ptr::null());
            while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
        }
    }
}

/// Kills the holder (which ends every process left in the namespace) and unpins the
/// namespace. The pid is only signalled if it still is the pinned namespace's init, so a
/// reused pid after an agent restart is never hit.
pub(crate) fn stop(pid: u32, pinned: Option<&PathBuf>) {
    let proc_ns = PathBuf::from(format!("/proc/{pid}/ns/pid"));
    let same = match pinned {
        Some(pinned) => match (std::fs::metadata(&proc_ns), std::fs::metadata(pinned)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        },
        None => true,
    };
    if same && let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill and waitpid have no memory-safety preconditions. waitpid reaps the
        // holder if it is our child; after an agent restart it is not, and init reaps it.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
    if let Some(pinned) = pinned {
        let _ = mounts::unmount(pinned);
        let _ = std::fs::remove_file(pinned);
    }
}
