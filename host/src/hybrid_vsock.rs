//! Hybrid vsock: a guest's vsock ports reached through a Unix socket on the host, as
//! Firecracker, Cloud Hypervisor and `vhost-device-vsock --uds-path` expose them.
//!
//! - Host to guest: connect to the Unix socket `UDS`, send `CONNECT <port>\n`, read
//!   `OK <host-port>\n`; from then on the stream is the guest's vsock connection to `<port>`.
//! - Guest to host: a guest connection to the host (CID 2) port `P` arrives at the Unix socket
//!   `UDS_P`, which the host must be listening on ([`guest_port_path`]). The host's relay and
//!   model store listen on such paths unchanged.
//!
//! Nothing here opens AF_VSOCK: the vsock side is the VMM's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// How long the `CONNECT` handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest reply line accepted (`OK 4294967295` is 13 bytes).
const MAX_REPLY: usize = 64;

/// The Unix socket on which guest connections to host port `port` arrive: `UDS_port`.
///
/// ```
/// use cloister_host::hybrid_vsock::guest_port_path;
/// let p = guest_port_path(std::path::Path::new("/run/vm/vsock.sock"), 8001);
/// assert_eq!(p, std::path::PathBuf::from("/run/vm/vsock.sock_8001"));
/// ```
pub fn guest_port_path(uds: &Path, port: u32) -> PathBuf {
    let mut s = uds.as_os_str().to_os_string();
    s.push(format!("_{port}"));
    PathBuf::from(s)
}

/// Opens a stream to the guest's vsock `port` through the hybrid-vsock socket `uds`.
///
/// # Errors
/// The connect error; `TimedOut` if the handshake takes longer than [`HANDSHAKE_TIMEOUT`];
/// `ConnectionRefused` if the VMM refuses (no guest listener: the VMM closes, or answers
/// something other than `OK`); `InvalidData` for a reply line that is too long.
pub async fn connect(uds: &Path, port: u32) -> std::io::Result<UnixStream> {
    let mut stream = UnixStream::connect(uds).await?;
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&mut stream, port))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "hybrid vsock CONNECT handshake timed out",
            )
        })??;
    Ok(stream)
}

/// Sends `CONNECT <port>\n` and reads the reply one byte at a time, so no byte of the guest's
/// stream is consumed.
async fn handshake<S>(stream: &mut S, port: u32) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream
        .write_all(format!("CONNECT {port}\n").as_bytes())
        .await?;
    let mut line = Vec::with_capacity(16);
    loop {
        let mut byte = [0u8; 1];
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                format!("hybrid vsock: nothing listens on guest port {port}"),
            ));
        }
        if byte[0] == b'\n' {
            break;
        }
        if line.len() >= MAX_REPLY {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "hybrid vsock: reply line too long",
            ));
        }
        line.extend_from_slice(&byte);
    }
    let ok = std::str::from_utf8(&line)
        .ok()
        .and_then(|l| l.strip_prefix("OK "))
        .is_some_and(|n| n.trim().parse::<u32>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            format!("hybrid vsock: guest port {port} refused the connection"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::net::UnixListener;

    use super::*;

    /// A fake VMM: reads the CONNECT line, answers `reply`, then echoes one line.
    async fn fake_vmm(listener: UnixListener, reply: &'static [u8]) -> String {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await.expect("connect line");
        reader.get_mut().write_all(reply).await.expect("reply");
        if reply.starts_with(b"OK") {
            let mut data = String::new();
            reader.read_line(&mut data).await.expect("data");
            reader
                .get_mut()
                .write_all(data.as_bytes())
                .await
                .expect("echo");
        }
        line
    }

    #[tokio::test]
    async fn connects_and_then_carries_the_guest_stream() {
        let dir = tempfile::tempdir().expect("tempdir");
        let uds = dir.path().join("v.sock");
        let listener = UnixListener::bind(&uds).expect("bind");
        // The reply and the first guest bytes arrive together: none may be lost.
        let vmm = tokio::spawn(fake_vmm(listener, b"OK 1073741824\n"));
        let mut s = connect(&uds, 5000).await.expect("connected");
        s.write_all(b"hello\n").await.expect("write");
        let mut back = [0u8; 6];
        s.read_exact(&mut back).await.expect("echo");
        assert_eq!(&back, b"hello\n");
        assert_eq!(vmm.await.expect("vmm"), "CONNECT 5000\n");
    }

    #[tokio::test]
    async fn a_refusal_or_a_closed_socket_is_connection_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (i, reply) in [&b""[..], b"ERR\n", b"OK x\n"].into_iter().enumerate() {
            let uds = dir.path().join(format!("v{i}.sock"));
            let listener = UnixListener::bind(&uds).expect("bind");
            let reply: &'static [u8] = reply;
            let vmm = tokio::spawn(fake_vmm(listener, reply));
            let err = connect(&uds, 7).await.expect_err("refused");
            assert_eq!(
                err.kind(),
                std::io::ErrorKind::ConnectionRefused,
                "{reply:?}"
            );
            let _ = vmm.await;
        }
        let err = connect(&dir.path().join("absent.sock"), 7)
            .await
            .expect_err("no socket");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
