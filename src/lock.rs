//! The exclusive lock of an output folder (`<out>/.pullrecon.lock`): `run` and `backfill` hold it
//! for their whole work, so one job (or two jobs sharing a folder) never writes the same tables
//! twice at once. It is an OS file lock (`File::try_lock`): it goes away with the process, even a
//! killed one, so there is no stale lock to clean up. The file's text says who holds it.

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The exit status of a run that found its output folder locked (sysexits `EX_TEMPFAIL`: try
/// again later).
pub const EXIT_LOCKED: i32 = 75;

/// The lock file of an output folder.
pub fn lock_path(out: &Path) -> PathBuf {
    out.join(".pullrecon.lock")
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
    path: PathBuf,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub struct Busy {
    pub path: PathBuf,
    /// What the holder wrote into the lock file (job, pid, run id, start), if readable.
    pub holder: String,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let holder = if self.holder.is_empty() {
            "another pullrecon process".to_owned()
        } else {
            format!("another pullrecon process ({})", self.holder)
        };
        write!(
            f,
            "the output folder {} is locked by {holder}; nothing was changed, try again later \
             (lock file {})",
            self.path
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            self.path.display()
        )
    }
}

impl OutputLock {
    /// Takes the lock of `out` without waiting. The folder is created when missing (0750).
    /// `Ok(Err(busy))` when another process holds it: then nothing has been written.
    pub fn try_acquire(out: &Path, holder: &str) -> Result<Result<OutputLock, Busy>> {
        crate::tables::writer::create_private_dir(out)?;
        let path = lock_path(out);
        // No truncation on open: the holder's text must survive a refused attempt.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o640)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Ok(Err(Busy {
                    path,
                    holder: text.trim().to_owned(),
                }));
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(holder.as_bytes())?;
        file.flush()?;
        Ok(Ok(OutputLock { file, path }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_lets_go() {
        let dir = std::env::temp_dir().join(format!("pullrecon-lock-{}", std::process::id()));
        let first = OutputLock::try_acquire(&dir, "job a").unwrap().unwrap();
        let busy = OutputLock::try_acquire(&dir, "job b").unwrap().unwrap_err();
        assert_eq!(busy.holder, "job a");
        assert!(busy.to_string().contains("nothing was changed"));
        drop(first);
        let again = OutputLock::try_acquire(&dir, "job b").unwrap();
        assert!(again.is_ok());
        drop(again);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
