//! Relay tests: Unix socket in, loopback TCP out. Every wait is bounded.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixStream};

use super::*;

const WAIT: Duration = Duration::from_secs(5);

/// A loopback TCP echo server that serves at most `n` connections.
async fn echo_server(n: usize) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        for _ in 0..n {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

fn write_allowlist(dir: &Path, port: u16) -> PathBuf {
    let path = dir.join("vsock-proxy.yaml");
    std::fs::write(
        &path,
        format!("allowlist:\n- {{address: 127.0.0.1, port: {port}}}\n"),
    )
    .expect("write allowlist");
    path
}

fn spec(sock: &Path, port: u16) -> RelaySpec {
    format!("unix:{}=127.0.0.1:{port}", sock.display())
        .parse()
        .expect("spec")
}

async fn wait_for(stats: &RelayStats, pred: impl Fn(&RelayStatsSnapshot) -> bool) {
    tokio::time::timeout(WAIT, async {
        while !pred(&stats.snapshot()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("stats never matched: {:?}", stats.snapshot()));
}

#[tokio::test]
async fn relays_bytes_both_ways_to_a_tcp_echo_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let echo = echo_server(2).await;
    let allowlist = write_allowlist(dir.path(), echo.port());
    let sock = dir.path().join("relay.sock");
    let relays = bind_all(
        &[spec(&sock, echo.port())],
        Some(&allowlist),
        RelayLimits::default(),
    )
    .await
    .expect("bind");
    let [relay] = <[Relay; 1]>::try_from(relays).expect("one relay");
    let stats = relay.stats();
    let task = tokio::spawn(relay.serve());

    // Larger than any socket buffer, so both directions must flow at once.
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut client = UnixStream::connect(&sock).await.expect("connect");
    let (mut r, mut w) = client.split();
    let send = async {
        w.write_all(&payload).await.expect("write");
        w.shutdown().await.expect("half-close");
    };
    let mut echoed = Vec::new();
    let recv = r.read_to_end(&mut echoed);
    let ((), got) = tokio::time::timeout(WAIT, async { tokio::join!(send, recv) })
        .await
        .expect("echo in time");
    got.expect("read");
    assert_eq!(echoed, payload);
    drop(client);
    wait_for(&stats, |s| s.completed == 1).await;
    assert_eq!(
        stats.snapshot(),
        RelayStatsSnapshot {
            accepted: 1,
            completed: 1,
            ..RelayStatsSnapshot::default()
        }
    );
    task.abort();
}

#[tokio::test]
async fn unlisted_destination_refuses_to_start_and_binds_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let allowlist = write_allowlist(dir.path(), 443);
    let listed = dir.path().join("listed.sock");
    let unlisted = dir.path().join("unlisted.sock");
    let err = bind_all(
        &[spec(&listed, 443), spec(&unlisted, 444)],
        Some(&allowlist),
        RelayLimits::default(),
    )
    .await
    .expect_err("unlisted");
    assert_eq!(err.code(), "host.relay_not_allowed");
    let message = err.to_string();
    assert!(message.contains("127.0.0.1:444"), "{message}");
    assert!(message.contains("vsock-proxy.yaml"), "{message}");
    assert!(!listed.exists() && !unlisted.exists());

    let missing = bind_all(&[spec(&listed, 443)], None, RelayLimits::default())
        .await
        .expect_err("no allowlist");
    assert_eq!(missing.code(), "host.relay_allowlist_missing");
    assert!(
        bind_all(&[], None, RelayLimits::default())
            .await
            .expect("no relays, no allowlist")
            .is_empty()
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "allowlist:\n- {address: a}\n").expect("write");
    let err = bind_all(&[], Some(&bad), RelayLimits::default())
        .await
        .expect_err("malformed allowlist");
    assert_eq!(err.code(), "host.allowlist.missing_key");
    let err = bind_all(
        &[],
        Some(&dir.path().join("absent.yaml")),
        RelayLimits::default(),
    )
    .await
    .expect_err("absent allowlist");
    assert_eq!(err.code(), "host.allowlist_read");
}

#[tokio::test]
async fn refuses_connections_over_the_limit_and_times_out_idle_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let echo = echo_server(2).await;
    let allowlist = write_allowlist(dir.path(), echo.port());
    let sock = dir.path().join("relay.sock");
    let limits = RelayLimits {
        max_connections: 1,
        idle_timeout: Duration::from_millis(300),
        connect_timeout: WAIT,
    };
    let mut relays = bind_all(&[spec(&sock, echo.port())], Some(&allowlist), limits)
        .await
        .expect("bind");
    let relay = relays.pop().expect("one relay");
    let stats = relay.stats();
    let task = tokio::spawn(relay.serve());

    let mut first = UnixStream::connect(&sock).await.expect("connect");
    first.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    tokio::time::timeout(WAIT, first.read_exact(&mut buf))
        .await
        .expect("in time")
        .expect("echo");
    assert_eq!(&buf, b"ping");

    // The one slot is taken: the second connection is closed at once.
    let mut second = UnixStream::connect(&sock).await.expect("connect");
    let mut rest = Vec::new();
    let n = tokio::time::timeout(WAIT, second.read_to_end(&mut rest))
        .await
        .expect("closed in time")
        .expect("read");
    assert_eq!(n, 0);
    wait_for(&stats, |s| s.refused_busy == 1).await;

    // The first goes quiet and is closed by the idle timeout.
    let n = tokio::time::timeout(WAIT, first.read_to_end(&mut rest))
        .await
        .expect("idle close in time")
        .expect("read");
    assert_eq!(n, 0);
    wait_for(&stats, |s| s.idle_timeouts == 1).await;
    assert_eq!(stats.snapshot().accepted, 1);
    task.abort();
}

#[test]
fn parses_relay_specs() {
    let s: RelaySpec = "unix:/run/a=b.sock=kms.example.com:443"
        .parse()
        .expect("spec");
    assert_eq!(s.listen(), Path::new("/run/a=b.sock"));
    assert_eq!(s.destination().host(), "kms.example.com");
    assert_eq!(s.destination().port(), 443);
    assert_eq!(s.to_string(), "unix:/run/a=b.sock=kms.example.com:443");
    for bad in [
        "/run/a.sock=kms:443",
        "unix:/run/a.sock",
        "unix:=kms:443",
        "unix:/run/a.sock=kms",
        "unix:/run/a.sock=kms:0",
        "tcp:1=kms:443",
    ] {
        assert!(bad.parse::<RelaySpec>().is_err(), "{bad}");
    }
}
