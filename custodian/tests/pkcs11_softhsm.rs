//! The PKCS#11 KEK against a real SoftHSM2 token (issue 14).
//!
//! SoftHSM2 reads its token directory from the file `SOFTHSM2_CONF` names, once, when the module
//! is initialised, and a process initialises a module once. Setting an environment variable in a
//! running test is process-global (and `unsafe` in edition 2024), so each test re-runs this test
//! binary for itself alone, in a child process whose environment names a fresh `softhsm2.conf`
//! and token directory; the parent initialises the token there with `softhsm2-util` first. The
//! child's `CLOISTER_SOFTHSM_CHILD` tells it to run the test's body.
//!
//! Without SoftHSM2 these tests fail, loudly: run `scripts/softhsm.sh` (it installs SoftHSM2 and
//! prints the module path; `CLOISTER_PKCS11_MODULE` overrides the search).
#![allow(
    clippy::expect_used,
    reason = "integration tests: a helper outside a #[test] fn panicking is the calling test failing"
)]

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use cloister_custodian::kek::{
    Kek, KekConfig, KekError, Pkcs11Config, Pkcs11Kek, WRAPPED_LEN, open_kek,
};
use cloister_proto::sealed::DataKey;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::{AuthPin, Ulong};

const TOKEN: &str = "cloister-test";
const PIN: &str = "246810";
const SO_PIN: &str = "13579111";
/// Set in every child to the user PIN, for the `pin_env` source.
const PIN_ENV: &str = "CLOISTER_TEST_HSM_PIN";
/// Set in a child to its scratch directory.
const CHILD_ENV: &str = "CLOISTER_SOFTHSM_CHILD";
/// Overrides where the SoftHSM2 module is looked for.
const MODULE_ENV: &str = "CLOISTER_PKCS11_MODULE";

/// The places `scripts/softhsm.sh` looks first.
const MODULE_CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/lib/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// A child's token: its scratch directory and the module.
struct Hsm {
    dir: PathBuf,
    module: PathBuf,
}

impl Hsm {
    /// A config for `key_label` in the test token, the PIN from a 0600 file.
    fn config(&self, key_label: &str) -> Pkcs11Config {
        Pkcs11Config {
            module: self.module.clone(),
            token_label: TOKEN.to_owned(),
            key_label: key_label.to_owned(),
            pin_file: Some(self.dir.join("pin")),
            pin_env: None,
        }
    }

    /// The same, the PIN from the environment.
    fn config_env(&self, key_label: &str) -> Pkcs11Config {
        Pkcs11Config {
            pin_file: None,
            pin_env: Some(PIN_ENV.to_owned()),
            ..self.config(key_label)
        }
    }

    /// A 0600 PIN file holding `pin`.
    fn pin_file(&self, name: &str, pin: &str) -> PathBuf {
        let path = self.dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .expect("create PIN file");
        writeln!(file, "{pin}").expect("write PIN file");
        path
    }

    /// An independent logged-in session on the test token, straight through cryptoki.
    fn raw_session(&self) -> Session {
        let context = Pkcs11::new(&self.module).expect("load module");
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => panic!("C_Initialize: {e}"),
        }
        let slot = context
            .get_slots_with_token()
            .expect("slots")
            .into_iter()
            .find(|s| context.get_token_info(*s).expect("token info").label() == TOKEN)
            .expect("the test token");
        let session = context.open_rw_session(slot).expect("session");
        match session.login(UserType::User, Some(&AuthPin::from(PIN))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => panic!("C_Login: {e}"),
        }
        session
    }
}

fn find_key(session: &Session, label: &str) -> ObjectHandle {
    let keys = session
        .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
        .expect("find");
    assert_eq!(keys.len(), 1, "one key labelled {label}");
    keys[0]
}

fn code<T>(result: Result<T, KekError>) -> &'static str {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.code(),
    }
}

/// Runs `body` in a child process of this binary with its own SoftHSM2 token (module docs).
fn with_softhsm(test: &str, body: fn(&Hsm)) {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        let module = std::env::var_os(MODULE_ENV).expect("the parent sets the module");
        body(&Hsm {
            dir: dir.into(),
            module: module.into(),
        });
        return;
    }
    let module = find_module();
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = scratch.path();
    let tokens = dir.join("tokens");
    std::fs::create_dir(&tokens).expect("token dir");
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        ),
    )
    .expect("softhsm2.conf");
    let init = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", TOKEN])
        .args(["--so-pin", SO_PIN, "--pin", PIN])
        .output()
        .unwrap_or_else(|e| panic!("{}", missing_softhsm(&format!("softhsm2-util: {e}"))));
    assert!(
        init.status.success(),
        "softhsm2-util --init-token failed: {}{}",
        String::from_utf8_lossy(&init.stdout),
        String::from_utf8_lossy(&init.stderr)
    );
    let hsm = Hsm {
        dir: dir.to_owned(),
        module: module.clone(),
    };
    hsm.pin_file("pin", PIN);

    let exe = std::env::current_exe().expect("this test binary");
    let out = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD_ENV, dir)
        .env(MODULE_ENV, &module)
        .env(PIN_ENV, PIN)
        .output()
        .expect("run the child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "the SoftHSM2 child of {test} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}

/// The SoftHSM2 module, or a loud failure saying how to get it.
fn find_module() -> PathBuf {
    if let Some(module) = std::env::var_os(MODULE_ENV) {
        let module = PathBuf::from(module);
        assert!(
            module.is_file(),
            "{}",
            missing_softhsm(&format!(
                "${MODULE_ENV} names {}, which is no file",
                module.display()
            ))
        );
        return module;
    }
    match MODULE_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
    {
        Some(module) => module,
        None => panic!(
            "{}",
            missing_softhsm(&format!("no libsofthsm2.so in {MODULE_CANDIDATES:?}"))
        ),
    }
}

fn missing_softhsm(what: &str) -> String {
    format!(
        "\n\n==================================================================\n\
         SoftHSM2 IS NOT INSTALLED: the PKCS#11 KEK tests cannot run.\n\
         {what}\n\
         Run scripts/softhsm.sh (installs SoftHSM2 as root, prints the module path);\n\
         set {MODULE_ENV} if the module lives elsewhere.\n\
         ==================================================================\n"
    )
}

#[test]
fn wraps_in_the_token_and_round_trips() {
    with_softhsm("wraps_in_the_token_and_round_trips", |hsm| {
        let kek = Pkcs11Kek::generate(&hsm.config("kek-a")).expect("generate");
        assert_eq!(kek.kek_id(), format!("pkcs11:{TOKEN}/kek-a"));
        let dek = DataKey::from_bytes([7; 32]);
        let a = kek.wrap("model-1", &dek).expect("wrap");
        let b = kek.wrap("model-1", &dek).expect("wrap");
        assert_eq!(a.len(), WRAPPED_LEN);
        assert_ne!(a, b, "a fresh IV per wrap");
        assert!(!a.windows(32).any(|w| w == [7; 32]), "no plaintext");
        assert_eq!(
            kek.unwrap("model-1", &a).expect("unwrap").expose(),
            &[7; 32]
        );
        assert_eq!(
            kek.unwrap("model-1", &b).expect("unwrap").expose(),
            &[7; 32]
        );
        drop(kek);

        // The key is a token object: reopened (PIN from the environment, through the config
        // type the custodian reads) it unwraps what the first handle wrapped.
        let config: KekConfig = serde_json::from_value(serde_json::json!({
            "pkcs11": {
                "module": hsm.module,
                "token_label": TOKEN,
                "key_label": "kek-a",
                "pin_env": PIN_ENV,
            }
        }))
        .expect("config");
        let reopened = open_kek(&config).expect("open");
        assert_eq!(reopened.kek_id(), format!("pkcs11:{TOKEN}/kek-a"));
        assert_eq!(
            reopened.unwrap("model-1", &a).expect("unwrap").expose(),
            &[7; 32]
        );
        let also = Pkcs11Kek::open(&hsm.config_env("kek-a")).expect("open");
        assert_eq!(
            also.unwrap("model-1", &b).expect("unwrap").expose(),
            &[7; 32]
        );
    });
}

#[test]
fn the_generated_key_is_sensitive_and_not_extractable() {
    with_softhsm(
        "the_generated_key_is_sensitive_and_not_extractable",
        |hsm| {
            let _kek = Pkcs11Kek::generate(&hsm.config("kek-a")).expect("generate");
            let session = hsm.raw_session();
            let key = find_key(&session, "kek-a");
            let attributes = session
                .get_attributes(
                    key,
                    &[
                        AttributeType::Class,
                        AttributeType::KeyType,
                        AttributeType::ValueLen,
                        AttributeType::Token,
                        AttributeType::Private,
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::AlwaysSensitive,
                        AttributeType::NeverExtractable,
                        AttributeType::Encrypt,
                        AttributeType::Decrypt,
                        AttributeType::Wrap,
                        AttributeType::Unwrap,
                    ],
                )
                .expect("attributes");
            for expected in [
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(Ulong::from(32)),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::AlwaysSensitive(true),
                Attribute::NeverExtractable(true),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Wrap(false),
                Attribute::Unwrap(false),
            ] {
                assert!(
                    attributes.contains(&expected),
                    "{expected:?} not in {attributes:?}"
                );
            }
            // Reading the value: C_GetAttributeValue answers CKR_ATTRIBUTE_SENSITIVE, which cryptoki
            // reports by leaving the attribute out.
            let value = session
                .get_attributes(key, &[AttributeType::Value])
                .expect("C_GetAttributeValue");
            assert!(
                !value.iter().any(|a| matches!(a, Attribute::Value(_))),
                "the token revealed CKA_VALUE"
            );
            // Nor can it be made extractable again, or exported under another key.
            assert!(
                session
                    .update_attributes(key, &[Attribute::Extractable(true)])
                    .is_err()
            );
            let wrapping = session
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::ValueLen(Ulong::from(32)),
                        Attribute::Token(false),
                        Attribute::Wrap(true),
                    ],
                )
                .expect("a wrapping key");
            assert!(
                session
                    .wrap_key(&Mechanism::AesKeyWrapPad, wrapping, key)
                    .is_err()
            );
        },
    );
}

#[test]
fn tampering_another_key_id_or_another_kek_fails_to_unwrap() {
    with_softhsm(
        "tampering_another_key_id_or_another_kek_fails_to_unwrap",
        |hsm| {
            let kek = Pkcs11Kek::generate(&hsm.config("kek-a")).expect("generate");
            let other = Pkcs11Kek::generate(&hsm.config("kek-b")).expect("generate another");
            let wrapped = kek
                .wrap("model-1", &DataKey::from_bytes([5; 32]))
                .expect("wrap");
            assert_eq!(
                code(kek.unwrap("model-2", &wrapped)),
                "custodian.kek.unwrap_failed"
            );
            assert_eq!(
                code(other.unwrap("model-1", &wrapped)),
                "custodian.kek.unwrap_failed"
            );
            // A flipped bit anywhere: IV, ciphertext, tag.
            for i in 0..wrapped.len() {
                let mut flipped = wrapped.clone();
                flipped[i] ^= 0x01;
                assert_eq!(
                    code(kek.unwrap("model-1", &flipped)),
                    "custodian.kek.unwrap_failed",
                    "byte {i}"
                );
            }
            for len in [0, 12, WRAPPED_LEN - 1] {
                assert_eq!(
                    code(kek.unwrap("model-1", &wrapped[..len])),
                    "custodian.kek.unwrap_failed"
                );
            }
            let mut longer = wrapped.clone();
            longer.push(0);
            assert_eq!(
                code(kek.unwrap("model-1", &longer)),
                "custodian.kek.unwrap_failed"
            );
            // After all those failures the sessions still work.
            assert_eq!(
                kek.unwrap("model-1", &wrapped).expect("unwrap").expose(),
                &[5; 32]
            );
        },
    );
}

#[test]
fn a_wrong_pin_is_a_login_error() {
    with_softhsm("a_wrong_pin_is_a_login_error", |hsm| {
        let config = Pkcs11Config {
            pin_file: Some(hsm.pin_file("wrong-pin", "999999")),
            ..hsm.config("kek-a")
        };
        let e = Pkcs11Kek::generate(&config).expect_err("refused");
        assert_eq!(e.code(), "custodian.kek.pkcs11_login");
        assert!(
            std::error::Error::source(&e).is_some(),
            "carries the token's error"
        );
        assert_eq!(code(Pkcs11Kek::open(&config)), "custodian.kek.pkcs11_login");
    });
}

#[test]
fn an_unknown_token_or_key_label_is_named() {
    with_softhsm("an_unknown_token_or_key_label_is_named", |hsm| {
        let config = Pkcs11Config {
            token_label: "no-such-token".to_owned(),
            ..hsm.config("kek-a")
        };
        let e = Pkcs11Kek::open(&config).expect_err("refused");
        assert_eq!(e.code(), "custodian.kek.pkcs11_token_not_found");
        assert!(e.to_string().contains("no-such-token"), "{e}");
        assert_eq!(
            code(Pkcs11Kek::generate(&config)),
            "custodian.kek.pkcs11_token_not_found"
        );
        let e = Pkcs11Kek::open(&hsm.config("no-such-key")).expect_err("refused");
        assert_eq!(e.code(), "custodian.kek.pkcs11_key_not_found");
        assert!(e.to_string().contains("no-such-key"), "{e}");
        let module = Pkcs11Config {
            module: hsm.dir.join("not-a-module.so"),
            ..hsm.config("kek-a")
        };
        assert_eq!(
            code(Pkcs11Kek::open(&module)),
            "custodian.kek.pkcs11_module"
        );
    });
}

#[test]
fn generate_refuses_an_existing_label() {
    with_softhsm("generate_refuses_an_existing_label", |hsm| {
        let kek = Pkcs11Kek::generate(&hsm.config("kek-a")).expect("generate");
        let wrapped = kek
            .wrap("model-1", &DataKey::from_bytes([3; 32]))
            .expect("wrap");
        let e = Pkcs11Kek::generate(&hsm.config("kek-a")).expect_err("refused");
        assert_eq!(e.code(), "custodian.kek.pkcs11_key_exists");
        // Still exactly one key with the label, and it still unwraps.
        find_key(&hsm.raw_session(), "kek-a");
        assert_eq!(
            kek.unwrap("model-1", &wrapped).expect("unwrap").expose(),
            &[3; 32]
        );
    });
}

#[test]
fn a_key_the_token_would_export_is_refused() {
    with_softhsm("a_key_the_token_would_export_is_refused", |hsm| {
        let session = hsm.raw_session();
        for (label, sensitive, extractable, len) in [
            ("extractable", true, true, 32),
            ("readable", false, false, 32),
            ("aes-128", true, false, 16),
        ] {
            session
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Label(label.as_bytes().to_vec()),
                        Attribute::ValueLen(Ulong::from(len)),
                        Attribute::Token(true),
                        Attribute::Private(true),
                        Attribute::Sensitive(sensitive),
                        Attribute::Extractable(extractable),
                        Attribute::Encrypt(true),
                        Attribute::Decrypt(true),
                    ],
                )
                .expect("generate a weak key");
            let e = Pkcs11Kek::open(&hsm.config(label)).expect_err("refused");
            assert_eq!(
                e.code(),
                "custodian.kek.pkcs11_key_unsuitable",
                "{label}: {e}"
            );
        }
    });
}

#[test]
fn concurrent_wraps_from_many_threads_all_unwrap() {
    with_softhsm("concurrent_wraps_from_many_threads_all_unwrap", |hsm| {
        let kek: Arc<dyn Kek> =
            Arc::new(Pkcs11Kek::generate(&hsm.config("kek-a")).expect("generate"));
        let wrapped: Vec<(String, u8, Vec<u8>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8u8)
                .map(|t| {
                    let kek = Arc::clone(&kek);
                    scope.spawn(move || {
                        (0..25u8)
                            .map(|i| {
                                let key_id = format!("model-{t}-{i}");
                                let byte = t.wrapping_mul(31).wrapping_add(i);
                                let w = kek
                                    .wrap(&key_id, &DataKey::from_bytes([byte; 32]))
                                    .expect("wrap");
                                // Interleave unwraps with other threads' wraps.
                                assert_eq!(
                                    kek.unwrap(&key_id, &w).expect("unwrap").expose(),
                                    &[byte; 32]
                                );
                                (key_id, byte, w)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("worker"))
                .collect()
        });
        assert_eq!(wrapped.len(), 200);
        std::thread::scope(|scope| {
            for chunk in wrapped.chunks(50) {
                let kek = Arc::clone(&kek);
                scope.spawn(move || {
                    for (key_id, byte, w) in chunk {
                        assert_eq!(
                            kek.unwrap(key_id, w).expect("unwrap").expose(),
                            &[*byte; 32]
                        );
                    }
                });
            }
        });
    });
}

/// Not a SoftHSM test: the module search itself, so a machine without SoftHSM2 fails here too
/// with the message that says what to run.
#[test]
fn softhsm2_is_installed() {
    let module = find_module();
    assert!(Path::new(&module).is_file());
}
