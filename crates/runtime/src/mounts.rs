//! Mount helpers: reading `/proc/self/mountinfo`, bind mounts, shared propagation and
//! unmounting everything below a directory (used by sandbox removal and by tests to leave
//! nothing behind).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)
}

/// Mount points of this process's mount namespace, in mount order.
pub fn mount_points() -> io::Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(text.lines().filter_map(|line| line.split(' ').nth(4)).map(|p| PathBuf::from(unescape(p))).collect())
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Ok(value) = u8::from_str_radix(&field[i + 1..i + 4], 8)
        {
            out.push(value);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// True when `path` is a mount point.
pub fn is_mount_point(path: &Path) -> io::Result<bool> {
    Ok(mount_points()?.iter().any(|p| p == path))
}

/// Mount points at or below `dir`.
pub fn mounts_under(dir: &Path) -> io::Result<Vec<PathBuf>> {
    Ok(mount_points()?.into_iter().filter(|p| p.starts_with(dir)).collect())
}

/// Bind-mounts `source` onto `target` (which must exist).
pub fn bind(source: &Path, target: &Path) -> io::Result<()> {
    mount(Some(source), target, None, libc::MS_BIND, None)
}

/// mount(2).
pub fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(c_path).transpose()?;
    let target = c_path(target)?;
    let fstype = fstype.map(CString::new).transpose().map_err(io::Error::other)?;
    let data = data.map(CString::new).transpose().map_err(io::Error::other)?;
    // SAFETY: all pointers are valid NUL-terminated strings or null.
    let rc = unsafe {
        libc::mount(
            source.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            target.as_ptr(),
            fstype.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            flags,
            data.as_ref().map_or(std::ptr::null(), |s| s.as_ptr() as *const libc::c_void),
        )
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Makes `dir` a mount point with shared propagation, so that unmounting a namespace file
/// below it also unmounts the copies that container mount namespaces took (as `ip netns`
/// does for `/run/netns`). Idempotent.
pub fn make_shared_mount(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    if !is_mount_point(dir)? {
        bind(dir, dir)?;
    }
    mount(None, dir, None, libc::MS_SHARED | libc::MS_REC, None)
}

/// Lazily unmounts `path` (all mounts stacked on it). Not mounted is not an error.
pub fn unmount(path: &Path) -> io::Result<()> {
    let target = c_path(path)?;
    loop {
        // SAFETY: target is a valid NUL-terminated string.
        let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(()),
                _ => Err(err),
            };
        }
    }
}

/// Unmounts every mount at or below `dir`, deepest first.
pub fn unmount_all_under(dir: &Path) -> io::Result<()> {
    let mut mounts = mounts_under(dir)?;
    mounts.reverse();
    for mount_point in mounts {
        unmount(&mount_point)?;
    }
    Ok(())
}

/// Mounts containerd snapshot mounts (overlay or bind) at `target`, read-only.
pub fn mount_snapshot_read_only(snapshot: &[containerd_client::types::Mount], target: &Path) -> io::Result<()> {
    let [only] = snapshot else {
        return Err(io::Error::other(format!("expected one snapshot mount, got {}", snapshot.len())));
    };
    let mut flags = libc::MS_RDONLY;
    let mut data = Vec::new();
    for option in &only.options {
        match option.as_str() {
            "bind" => flags |= libc::MS_BIND,
            "rbind" => flags |= libc::MS_BIND | libc::MS_REC,
            "ro" | "rw" => {}
            "nosuid" => flags |= libc::MS_NOSUID,
            "nodev" => flags |= libc::MS_NODEV,
            "noexec" => flags |= libc::MS_NOEXEC,
            other => data.push(other.to_string()),
        }
    }
    let data = data.join(",");
    let fstype = (flags & libc::MS_BIND == 0).then_some(only.r#type.as_str());
    mount(Some(Path::new(&only.source)), target, fstype, flags, (!data.is_empty()).then_some(data.as_str()))?;
    if flags & libc::MS_BIND != 0 {
        // A bind mount ignores MS_RDONLY until it is remounted.
        mount(None, target, None, libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY, None)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn root_is_a_mount_point() {
        assert!(is_mount_point(Path::new("/")).unwrap());
    }
}
