//! The advisory lock each working copy holds while it is open, so that two processes
//! sharing a state directory (`set-image --git` beside `run`) never work in one copy at
//! once: `open` removes `*.lock` files it finds in `.git` as crash leftovers, which is
//! only true while nobody else is using the copy.
//!
//! The lock is `flock(2)` on `<state_dir>/locks/<copy>.owner`, outside the copy (so that a
//! re-clone or compaction never swaps the file under a holder). The kernel releases it
//! when the process dies, so a crash never leaves a stale lock; the file only records
//! the holder's pid for the error message.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{io_err, GitError};

/// How long `open` waits for another process to let go of a copy before failing.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// How often the wait tries again (`flock` has no timeout of its own).
const POLL: Duration = Duration::from_millis(50);

/// A held lock; released when dropped (the file descriptor closes).
#[derive(Debug)]
pub(crate) struct CopyLock {
    _file: File,
}

/// Take the lock at `path`, waiting up to `wait` for the current holder to release it;
/// [`GitError::Busy`] naming the holder's pid when it does not.
pub(crate) fn lock_copy(path: &Path, wait: Duration) -> Result<CopyLock, GitError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_err(format!("open lock file {}", path.display())))?;
    let started = Instant::now();
    loop {
        match try_flock(&file) {
            Ok(true) => break,
            Ok(false) if started.elapsed() < wait => std::thread::sleep(POLL),
            Ok(false) => {
                return Err(GitError::Busy {
                    lock: path.to_path_buf(),
                    holder: holder(&mut file),
                    waited: wait,
                })
            }
            Err(e) => return Err(io_err(format!("lock {}", path.display()))(e)),
        }
    }
    // Ours now: record who holds it, for the next one's error message.
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(io_err(format!("write lock file {}", path.display())))?;
    Ok(CopyLock { _file: file })
}

/// The lock file for the copy named `name`: `<state_dir>/locks/<name>.owner` (the
/// directory is created).
pub(crate) fn lock_path(state_dir: &Path, name: &str) -> Result<PathBuf, GitError> {
    let dir = state_dir.join("locks");
    std::fs::create_dir_all(&dir).map_err(io_err(format!("create {}", dir.display())))?;
    Ok(dir.join(format!("{name}.owner")))
}

fn try_flock(file: &File) -> std::io::Result<bool> {
    // SAFETY: flock on a file descriptor we own; no memory is shared with the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        Some(libc::EINTR) => Ok(false),
        _ => Err(err),
    }
}

/// Who holds the lock, as the file says ("pid 1234"), or why that is unknown.
fn holder(file: &mut File) -> String {
    let mut s = String::new();
    match file.rewind().and_then(|()| file.read_to_string(&mut s)) {
        Ok(_) => match s.trim().parse::<u32>() {
            Ok(pid) => format!("pid {pid}"),
            Err(_) => "a process that has not written its pid yet".into(),
        },
        Err(e) => format!("unknown ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_then_fails_naming_the_first() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("copy.owner");
        let first = lock_copy(&p, Duration::ZERO).unwrap();
        let err = lock_copy(&p, Duration::from_millis(120)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(matches!(err, GitError::Busy { .. }));
        drop(first);
        lock_copy(&p, Duration::ZERO).expect("free once the first is dropped");
    }
}
