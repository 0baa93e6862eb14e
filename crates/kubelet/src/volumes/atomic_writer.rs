//! Writes a set of files into a volume directory so that readers always see a
//! complete version, as upstream's AtomicWriter does: the files live in a
//! timestamped directory `..<stamp>`, a symlink `..data` points at the current
//! one and is replaced with an atomic rename, and every top-level entry is a
//! symlink through `..data`.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};

use super::projection::File;

const DATA_LINK: &str = "..data";

fn check_path(p: &str) -> io::Result<()> {
    let path = Path::new(p);
    let bad = path.is_absolute()
        || p.is_empty()
        || p.starts_with("..")
        || path.components().any(|c| matches!(c, Component::ParentDir | Component::RootDir));
    if bad {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid volume file path {p:?}")));
    }
    Ok(())
}

fn first_component(p: &str) -> String {
    p.split('/').next().unwrap_or(p).to_string()
}

/// Replaces the contents of `dir` with `files`. Unchanged contents are not rewritten.
pub fn write(dir: &Path, files: &[File]) -> io::Result<bool> {
    for f in files {
        check_path(&f.path)?;
    }
    std::fs::create_dir_all(dir)?;
    let data_link = dir.join(DATA_LINK);
    let current: Option<PathBuf> = std::fs::read_link(&data_link).ok();
    if let Some(cur) = &current
        && same_contents(&dir.join(cur), files)?
    {
        return Ok(false);
    }
    let stamp = format!("..{}", jiff::Timestamp::now().strftime("%Y_%m_%d_%H_%M_%S.%f"));
    let stamped = dir.join(&stamp);
    std::fs::create_dir(&stamped)?;
    for f in files {
        let target = stamped.join(&f.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, &f.data)?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(f.mode))?;
    }
    // Swap `..data` atomically.
    let tmp_link = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp_link);
    symlink(&stamp, &tmp_link)?;
    std::fs::rename(&tmp_link, &data_link)?;
    // Top-level names point through `..data`; names no longer present go away.
    let wanted: BTreeSet<String> = files.iter().map(|f| first_component(&f.path)).collect();
    for name in &wanted {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(Path::new(DATA_LINK).join(name), &link)?;
        }
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("..") {
            if name != DATA_LINK && name != stamp && entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(entry.path())?;
            }
            continue;
        }
        if !wanted.contains(&name) && entry.file_type()?.is_symlink() {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(true)
}

fn same_contents(current: &Path, files: &[File]) -> io::Result<bool> {
    let mut count = 0;
    for f in files {
        let p = current.join(&f.path);
        match (std::fs::read(&p), std::fs::metadata(&p)) {
            (Ok(data), Ok(meta)) if data == f.data && meta.permissions().mode() & 0o777 == f.mode => count += 1,
            _ => return Ok(false),
        }
    }
    Ok(count == files.len() && count_files(current)? == files.len())
}

fn count_files(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            n += count_files(&entry.path())?;
        } else {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, data: &str) -> File {
        File { path: path.into(), data: data.as_bytes().to_vec(), mode: 0o644 }
    }

    #[test]
    fn swaps_versions_and_removes_stale_names() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write(dir.path(), &[file("a", "1"), file("sub/b", "2")]).unwrap());
        assert_eq!(std::fs::read_to_string(dir.path().join("a")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(dir.path().join("sub/b")).unwrap(), "2");
        assert!(!write(dir.path(), &[file("a", "1"), file("sub/b", "2")]).unwrap(), "unchanged is not rewritten");
        assert!(write(dir.path(), &[file("a", "3")]).unwrap());
        assert_eq!(std::fs::read_to_string(dir.path().join("a")).unwrap(), "3");
        assert!(!dir.path().join("sub").exists());
        let stamped: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("..2"))
            .collect();
        assert_eq!(stamped.len(), 1, "old versions are removed");
        assert!(write(dir.path(), &[file("../escape", "x")]).is_err());
    }
}
