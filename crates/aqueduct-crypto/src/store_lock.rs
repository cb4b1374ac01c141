//! One process per crypto store: two OlmMachines on one store would reuse one-time keys and
//! ratchet states and break sessions for good. The lock is an OS file lock, released when the
//! process dies, so a crash never leaves a stale lock behind.

use crate::error::CryptoError;
use std::fs::{File, OpenOptions};
use std::path::Path;

/// Holds the store's lock for as long as it lives.
pub(crate) struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Creates the store directory (owner-only) and takes its lock, or says who holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<Self, CryptoError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| CryptoError::Store(format!("cannot create {}: {e}", dir.display())))?;
        restrict(dir, 0o700)?;
        let path = dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| CryptoError::Store(format!("cannot open {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(CryptoError::Locked(dir.display().to_string()))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(CryptoError::Store(format!(
                "cannot lock {}: {e}",
                path.display()
            ))),
        }
    }
}

/// Makes every file in the store directory readable by the owner only.
pub(crate) fn restrict_files(dir: &Path) -> Result<(), CryptoError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| CryptoError::Store(format!("cannot list {}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            restrict(&entry.path(), 0o600)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> Result<(), CryptoError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| CryptoError::Store(format!("cannot restrict {}: {e}", path.display())))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> Result<(), CryptoError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("crypto");
        let first = StoreLock::acquire(&store).unwrap();
        assert!(matches!(
            StoreLock::acquire(&store),
            Err(CryptoError::Locked(_))
        ));
        drop(first);
        StoreLock::acquire(&store).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&store).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }
}
