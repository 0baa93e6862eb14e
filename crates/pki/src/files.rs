//! Atomic, permission-exact file writes and tolerant reads.
//!
//! Certificates and keys are replaced with write-to-temp + fsync + rename, so a crash never
//! leaves a half-written key behind and a reader sees either the old or the new file. Private
//! keys are created with their final mode from the first byte, so they are never readable by
//! others, even briefly.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{PkiError, Result};

/// Mode of private key files.
pub const PRIVATE_KEY_MODE: u32 = 0o600;
/// Mode of certificate files (public material).
pub const CERTIFICATE_MODE: u32 = 0o644;

/// Writes `contents` to `path` atomically with exactly `mode` (the umask does not apply).
///
/// The parent directory must exist. The temporary file lives beside the target so that the
/// final rename stays on one file system.
pub fn write_file_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let dir = parent_dir(path);
    let file_name = path
        .file_name()
        .ok_or_else(|| PkiError::invalid_file(path, "path has no file name"))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".{file_name}.tmp-{}-{:08x}", std::process::id(), rand::random::<u32>()));

    let written = write_new_file(&tmp, contents, mode)
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| PkiError::io("renaming temporary file to", path, e)));
    if written.is_err() {
        // Best effort: the temporary file is useless after a failure.
        let _ = fs::remove_file(&tmp);
    }
    written?;
    // Persist the rename itself; failure here only weakens crash safety, not correctness.
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn write_new_file(tmp: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)
        .map_err(|e| PkiError::io("creating", tmp, e))?;
    // `mode()` above is filtered by the umask; set the exact bits the caller asked for.
    file.set_permissions(Permissions::from_mode(mode)).map_err(|e| PkiError::io("setting mode of", tmp, e))?;
    file.write_all(contents).map_err(|e| PkiError::io("writing", tmp, e))?;
    file.sync_all().map_err(|e| PkiError::io("syncing", tmp, e))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates `dir` (and missing parents) readable only by the owner, as fits a key directory.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| PkiError::io("creating directory", dir, e))
}

/// Creates the parent directories of `path` with default permissions.
pub(crate) fn ensure_parent_dir(path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    fs::create_dir_all(&dir).map_err(|e| PkiError::io("creating directory", dir, e))
}

/// Reads a text file, `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read(path) {
        Ok(bytes) => {
            String::from_utf8(bytes).map(Some).map_err(|_| PkiError::invalid_file(path, "not UTF-8 text, expected PEM"))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PkiError::io("reading", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_exact_mode_and_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        write_file_atomic(&path, b"one", 0o600).unwrap();
        write_file_atomic(&path, b"two", 0o640).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("key.pem")]);
    }

    #[test]
    fn read_optional_distinguishes_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_optional(&dir.path().join("absent")).unwrap().is_none());
        fs::write(dir.path().join("bin"), [0xff, 0xfe]).unwrap();
        assert!(read_optional(&dir.path().join("bin")).is_err());
    }

    #[test]
    fn private_dir_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("server/tls");
        ensure_private_dir(&tls).unwrap();
        assert_eq!(fs::metadata(&tls).unwrap().permissions().mode() & 0o777, 0o700);
    }
}
