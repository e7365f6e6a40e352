use std::io::{BufRead, BufReader, Read};

use super::*;
use cloister_proto::sealed_package::Unsealer;

/// SHA-384 of the model archive of models/credit-risk-v1 (see the enclave's inference tests).
const DEMO_DIGEST: &str = "eaf877957c32bb8668685a25a48ca7611b03fc4a042c0e196e75ecc0670b50d501b4a593e1199bbe5357488621b1e469";

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/credit-risk-v1")
}

fn seal_args(dir: &Path) -> SealArgs {
    SealArgs {
        model_dir: demo_dir(),
        model_id: "credit-risk-v1".into(),
        model_version: "1.0.0".into(),
        publisher_key: dir.join("publisher.pem"),
        output: dir.join("model.sealed"),
        chunk_size: 4096,
        dek_out: Some(dir.join("dek.b64")),
        custodian: None,
        admin_token_file: None,
        release_policy: None,
        release_rego: None,
        key_id: None,
    }
}

fn keygen_into(dir: &Path) -> [u8; 32] {
    let path = dir.join("publisher.pem");
    keygen(&KeygenArgs {
        output: path.clone(),
    })
    .expect("keygen");
    read_publisher_key(&path)
        .expect("key parses")
        .public_key()
        .as_ref()
        .try_into()
        .expect("32 bytes")
}

fn read_dek(path: &Path) -> DataKey {
    let text = std::fs::read_to_string(path).expect("dek file");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .expect("base64");
    DataKey::from_bytes(bytes.try_into().expect("32 bytes"))
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn keygen_writes_a_private_pkcs8_pem_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    keygen_into(dir.path());
    let path = dir.path().join("publisher.pem");
    let pem = std::fs::read_to_string(&path).expect("pem");
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    // An existing key is never overwritten.
    let again = keygen(&KeygenArgs {
        output: path.clone(),
    });
    assert!(matches!(again, Err(Failure::Error(_))));
    assert_eq!(std::fs::read_to_string(&path).expect("pem"), pem);
    // DER is read too.
    let der = pem_decode(pem.as_bytes(), "PRIVATE KEY").expect("der");
    std::fs::write(dir.path().join("k.der"), &der[..]).expect("write");
    assert!(read_publisher_key(&dir.path().join("k.der")).is_ok());
    std::fs::write(dir.path().join("junk"), b"junk").expect("write");
    assert!(read_publisher_key(&dir.path().join("junk")).is_err());
}

#[test]
fn seals_the_demo_model_so_that_it_unseals_to_its_directory_digest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let publisher = keygen_into(dir.path());
    let args = seal_args(dir.path());
    assert!(matches!(seal(&args), Ok(Outcome::Ok)));
    #[cfg(unix)]
    assert_eq!(mode(&dir.path().join("dek.b64")), 0o600);
    let file = std::fs::read(&args.output).expect("sealed");
    let dek = read_dek(&dir.path().join("dek.b64"));
    let unsealer = Unsealer::new(&file, &publisher, "credit-risk-v1").expect("verifies");
    assert_eq!(
        hex::encode(unsealer.manifest().plaintext_sha384()),
        DEMO_DIGEST
    );
    let mut buf = vec![0; unsealer.buffer_len()];
    let archive = unsealer.open_into(&dek, &mut buf).expect("opens");
    let onnx = std::fs::read(demo_dir().join("model.onnx")).expect("onnx");
    assert_eq!(archive.get("model.onnx"), Some(&onnx[..]));
    assert_eq!(
        archive.entries().len(),
        2,
        "README and sample input are not sealed"
    );
    // inspect prints without decrypting; with the right publisher it verifies, with another
    // it refuses (exit 1).
    let inspect_args = |publisher: Option<String>| InspectArgs {
        file: args.output.clone(),
        publisher,
    };
    assert!(matches!(inspect(&inspect_args(None)), Ok(Outcome::Ok)));
    assert!(matches!(
        inspect(&inspect_args(Some(hex::encode(publisher)))),
        Ok(Outcome::Ok)
    ));
    assert!(matches!(
        inspect(&inspect_args(Some(hex::encode([1u8; 32])))),
        Err(Failure::Rejected(_))
    ));
    // Two seals of the same model differ (fresh DEK and nonce prefix) but sign one digest.
    let second = SealArgs {
        output: dir.path().join("again.sealed"),
        dek_out: Some(dir.path().join("dek2.b64")),
        ..seal_args(dir.path())
    };
    assert!(matches!(seal(&second), Ok(Outcome::Ok)));
    let again = std::fs::read(&second.output).expect("sealed");
    assert_ne!(again, file);
    assert_ne!(
        read_dek(&dir.path().join("dek2.b64")).expose(),
        dek.expose()
    );
}

#[test]
fn seal_refuses_what_the_enclave_would_refuse_or_could_never_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    keygen_into(dir.path());
    let no_key_out = SealArgs {
        dek_out: None,
        ..seal_args(dir.path())
    };
    let Err(Failure::Error(msg)) = seal(&no_key_out) else {
        panic!("sealed without a way to keep the key")
    };
    assert!(
        msg.contains("--dek-out") && msg.contains("--custodian"),
        "{msg}"
    );
    let wrong_id = SealArgs {
        model_id: "other".into(),
        ..seal_args(dir.path())
    };
    let Err(Failure::Error(msg)) = seal(&wrong_id) else {
        panic!("sealed under another id than model.json's")
    };
    assert!(msg.contains("--model-id"), "{msg}");
    let bad_chunk = SealArgs {
        chunk_size: 100,
        ..seal_args(dir.path())
    };
    let Err(Failure::Error(msg)) = seal(&bad_chunk) else {
        panic!("sealed with a 100-byte chunk")
    };
    assert!(msg.contains("model_manifest.invalid"), "{msg}");
    assert!(!dir.path().join("model.sealed").exists());
    assert!(!dir.path().join("dek.b64").exists());
}

/// A blocking one-request HTTP server on its own thread; returns the request head and body.
fn fake_custodian(
    status_line: &'static str,
    body: &'static str,
) -> (String, std::thread::JoinHandle<(String, String)>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut head = String::new();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("line");
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().expect("len");
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let mut req_body = vec![0; len];
        reader.read_exact(&mut req_body).expect("body");
        let mut stream = stream;
        write!(
            stream,
            "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("respond");
        (head, String::from_utf8(req_body).expect("utf8"))
    });
    (url, handle)
}

fn custodian_args(dir: &Path, url: String) -> SealArgs {
    std::fs::write(dir.join("token"), "t0ken\n").expect("token");
    std::fs::write(
        dir.join("policy.json"),
        br#"{"models": {"credit-risk-v1": "00"}}"#,
    )
    .ok();
    let policy = br#"{"nitro": {"pcrs": {"0": "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"}}}"#;
    std::fs::write(dir.join("policy.json"), policy).expect("policy");
    std::fs::write(dir.join("release.rego"), "package cloister\n").expect("rego");
    SealArgs {
        dek_out: None,
        custodian: Some(url),
        admin_token_file: Some(dir.join("token")),
        release_policy: Some(dir.join("policy.json")),
        release_rego: Some(dir.join("release.rego")),
        ..seal_args(dir)
    }
}

#[test]
fn seal_registers_the_key_with_the_custodian() {
    let dir = tempfile::tempdir().expect("tempdir");
    let publisher = keygen_into(dir.path());
    let (url, server) = fake_custodian("HTTP/1.1 201 Created", "{}");
    let args = custodian_args(dir.path(), url);
    assert!(matches!(seal(&args), Ok(Outcome::Ok)));
    let (head, body) = server.join().expect("server");
    assert!(
        head.starts_with("PUT /v1/admin/keys/credit-risk-v1 HTTP/1.1"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("authorization: bearer t0ken\r\n"),
        "{head}"
    );
    let body: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["rego"], "package cloister\n");
    assert!(body["trust_policy"]["nitro"]["pcrs"]["0"].is_string());
    // The registered key opens the sealed file.
    let dek = base64::engine::general_purpose::STANDARD
        .decode(body["dek"].as_str().expect("dek"))
        .expect("base64");
    let dek = DataKey::from_bytes(dek.try_into().expect("32"));
    let file = std::fs::read(&args.output).expect("sealed");
    let unsealer = Unsealer::new(&file, &publisher, "credit-risk-v1").expect("verifies");
    let mut buf = vec![0; unsealer.buffer_len()];
    assert!(unsealer.open_into(&dek, &mut buf).is_ok());
}

#[test]
fn a_custodian_refusal_shows_its_error_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    keygen_into(dir.path());
    let (url, _server) = fake_custodian(
        "HTTP/1.1 403 Forbidden",
        r#"{"code":"admin.forbidden","message":"token lacks the keys scope","hint":"use an admin token"}"#,
    );
    let Err(Failure::Error(msg)) = seal(&custodian_args(dir.path(), url)) else {
        panic!("a refusal was taken for success")
    };
    assert!(
        msg.contains("HTTP 403 [admin.forbidden]: token lacks the keys scope"),
        "{msg}"
    );
    assert!(msg.contains("custodian_admin.refused"), "{msg}");
    // A release policy that is not a trust policy is refused before anything is sealed.
    std::fs::write(dir.path().join("bad.json"), b"{\"nitro\": 5}").expect("write");
    let bad = SealArgs {
        release_policy: Some(dir.path().join("bad.json")),
        output: dir.path().join("never.sealed"),
        ..custodian_args(dir.path(), "http://127.0.0.1:1".into())
    };
    assert!(matches!(seal(&bad), Err(Failure::Error(_))));
    assert!(!dir.path().join("never.sealed").exists());
}
