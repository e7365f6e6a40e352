//! The custodian's secret files: created owner-only, refused when others can read them, and
//! replaced atomically (write a temporary file beside the target, sync, rename), so a crash
//! leaves either the old file or the new one, never half of either.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Why a secret file was refused.
#[derive(Debug)]
pub(crate) enum PrivateFileError {
    /// It cannot be inspected.
    Io(std::io::Error),
    /// Group or others have some access; carries the permission bits.
    Mode(u32),
}

/// Refuses a file that group or others can access.
pub(crate) fn check_private(path: &Path) -> Result<(), PrivateFileError> {
    let mode = std::fs::metadata(path)
        .map_err(PrivateFileError::Io)?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(PrivateFileError::Mode(mode));
    }
    Ok(())
}

/// Creates `path` with mode 0600 and writes `bytes`; fails if it exists (init never overwrites a
/// key).
pub(crate) fn create_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("secret");
        create_private(&path, b"one").expect("create");
        assert!(check_private(&path).is_ok());
        assert!(create_private(&path, b"two").is_err());
        assert_eq!(std::fs::read(&path).expect("read"), b"one");
    }
}
