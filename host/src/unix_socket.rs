//! Private Unix listeners for the host's local services ([`crate::relay`],
//! [`crate::model_store`]), which the enclave (or, in the mock, the enclave process) connects to.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use tokio::net::UnixListener;

use crate::error::StartError;

/// Binds `path` as a Unix socket that only its owner may connect to (mode 0600).
///
/// A socket file left by an earlier run is removed first. A path that holds anything but a
/// socket, or a socket some process still accepts on, is refused rather than taken over.
///
/// Between `bind` and `chmod` the socket briefly has the mode the umask gives it; keep sockets
/// in a directory only the host's user can enter (e.g. 0700 `/run/cloister`) to close that gap.
///
/// # Errors
/// [`StartError::SocketInUse`] or [`StartError::SocketBind`].
pub async fn bind_private(path: &Path) -> Result<UnixListener, StartError> {
    let bind_err = |source| StartError::SocketBind {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if tokio::net::UnixStream::connect(path).await.is_ok() {
                return Err(StartError::SocketInUse {
                    path: path.to_path_buf(),
                });
            }
            std::fs::remove_file(path).map_err(bind_err)?;
        }
        Ok(_) => {
            return Err(StartError::SocketInUse {
                path: path.to_path_buf(),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(bind_err(e)),
    }
    let listener = UnixListener::bind(path).map_err(bind_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replaces_stale_sockets_and_refuses_live_ones_and_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.sock");
        let first = bind_private(&path).await.expect("bind");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let live = bind_private(&path).await.expect_err("live socket");
        assert_eq!(live.code(), "host.socket_in_use");
        drop(first);
        let _second = bind_private(&path).await.expect("stale socket replaced");

        let file = dir.path().join("plain");
        std::fs::write(&file, b"keep me").expect("write");
        let err = bind_private(&file).await.expect_err("regular file");
        assert_eq!(err.code(), "host.socket_in_use");
        assert_eq!(std::fs::read(&file).expect("still there"), b"keep me");
    }
}
