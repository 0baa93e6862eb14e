//! Named pipes for a process's standard streams. The shim opens its ends while the task
//! or exec is created, so our ends must be open first: readers non-blocking (a reader with
//! no writer yet is fine), stdin read-write (so that opening never waits for the shim).

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Creates a FIFO (mode 0600); an existing one is reused.
pub(crate) fn mkfifo(path: &Path) -> io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: c_path is a valid NUL-terminated string.
    let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.kind() == io::ErrorKind::AlreadyExists { Ok(()) } else { Err(err) }
}

/// Opens the read end without waiting for a writer.
pub(crate) fn open_reader(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(path)
}

/// Opens a FIFO read-write: never blocks, and the pipe stays open while we hold it.
pub(crate) fn open_read_write(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(path)
}

/// Makes reads on a file descriptor block again.
#[cfg(test)]
pub(crate) fn set_blocking(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on an open descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn reader_opens_before_writer_and_sees_eof_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        mkfifo(&path).unwrap();
        mkfifo(&path).unwrap();
        let mut reader = open_reader(&path).unwrap();
        let mut writer = OpenOptions::new().write(true).open(&path).unwrap();
        writer.write_all(b"hi").unwrap();
        drop(writer);
        set_blocking(&reader).unwrap();
        let mut got = String::new();
        reader.read_to_string(&mut got).unwrap();
        assert_eq!(got, "hi");
    }
}
