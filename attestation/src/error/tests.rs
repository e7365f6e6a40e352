//! Every code, hint and meaning, walked from the variant lists (`CATALOG`), and the generated
//! reference page `docs/errors.md`.

use std::collections::BTreeSet;

use super::*;

/// `[a-z0-9_]+(\.[a-z0-9_]+)+`
fn follows_naming_rule(code: &str) -> bool {
    let segments: Vec<&str> = code.split('.').collect();
    segments.len() >= 2
        && segments.iter().all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

#[test]
fn every_code_is_unique_dotted_and_has_a_hint_and_a_meaning() {
    let catalog = AttestationError::catalog();
    let mut seen = BTreeSet::new();
    for row in &catalog {
        assert!(follows_naming_rule(row.code), "code {:?}", row.code);
        assert!(seen.insert(row.code), "code {:?} is used twice", row.code);
        assert!(!row.hint.trim().is_empty(), "{} has no hint", row.code);
        assert!(!row.meaning.trim().is_empty(), "{} has no doc", row.code);
    }
    // Every variant of every layer is in the catalog (the cert checks once per chain, one of
    // them with one code on all three chains).
    let variants = NitroError::CATALOG.len()
        + SnpError::CATALOG.len()
        + TdxError::CATALOG.len()
        + PolicyError::CATALOG.len()
        + EvidenceError::CATALOG.len()
        + MockError::CATALOG.len()
        + 1;
    assert_eq!(catalog.len(), variants + CertCheck::CATALOG.len() * 3 - 2);
}

#[test]
fn naming_rule() {
    assert!(follows_naming_rule("nitro.chain.expired"));
    assert!(follows_naming_rule("cert.unknown_critical_extension"));
    for bad in [
        "nitro",
        "Nitro.chain",
        "nitro..x",
        "nitro.chain.",
        "nitro-chain.x",
    ] {
        assert!(!follows_naming_rule(bad), "{bad}");
    }
}

#[test]
fn codes_delegate_to_the_layers() {
    let e = AttestationError::from(NitroError::CoseBadSignature);
    assert_eq!(e.code(), "nitro.cose.bad_signature");
    assert_eq!(e.hint(), NitroError::CoseBadSignature.hint());
    let expired = |role: CertRole| {
        AttestationError::from(CertError::new(
            role,
            CertCheck::Expired {
                not_after: 1,
                now: 2,
            },
        ))
    };
    assert_eq!(
        expired(ChainPosition::Leaf.into()).code(),
        "nitro.chain.expired"
    );
    assert_eq!(
        expired(crate::snp::SnpCert::Vek.into()).code(),
        "snp.cert.expired"
    );
    assert_eq!(
        expired(crate::tdx::TdxCert::Pck.into()).code(),
        "tdx.cert.expired"
    );
    let critical = |role: CertRole| {
        CertError::new(
            role,
            CertCheck::UnknownCriticalExtension {
                oid: const_oid::ObjectIdentifier::new_unwrap("1.2.3.4"),
            },
        )
        .code()
    };
    for role in [
        CertRole::Nitro(ChainPosition::CaBundle(1)),
        CertRole::Snp(crate::snp::SnpCert::Ask),
        CertRole::Tdx(crate::tdx::TdxCert::PckCa),
    ] {
        assert_eq!(critical(role), "cert.unknown_critical_extension");
    }
    let misuse = AttestationError::ApiMisuse { what: "x".into() };
    assert!(misuse.is_api_misuse());
    assert_eq!(misuse.code(), "api.misuse");
    assert!(!e.is_api_misuse());
}

#[test]
fn chain_position_display() {
    assert_eq!(ChainPosition::CaBundle(0).to_string(), "cabundle[0] (root)");
    assert_eq!(ChainPosition::CaBundle(2).to_string(), "cabundle[2]");
    assert_eq!(ChainPosition::Leaf.to_string(), "leaf certificate");
}

/// The reference page, rendered from the catalog.
fn render_errors_doc() -> String {
    let mut out = String::from(
        "# Error codes\n\n\
         <!-- Generated from attestation/src/error/ by the `errors_doc` test; do not edit.\n     \
         Regenerate: CLOISTER_UPDATE_DOCS=1 cargo test --release -p cloister-attestation errors_doc -->\n\n\
         Every error of `cloister-attestation` has a stable code (`AttestationError::code`), shown by\n\
         `cloister attest verify` (`rejected [code]`, or `error.code` with `--json`), and a hint\n\
         (`AttestationError::hint`). Certificate checks are shared by the three chains; their codes\n\
         keep each chain's published prefix (`nitro.chain.`, `snp.cert.`, `tdx.cert.`), except\n\
         `cert.unknown_critical_extension`, which is one code on every chain.\n\n\
         | code | meaning | what to do |\n|---|---|---|\n",
    );
    let cell = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace('|', "\\|")
    };
    for row in AttestationError::catalog() {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            row.code,
            cell(row.meaning),
            cell(row.hint)
        ));
    }
    out
}

#[test]
fn errors_doc() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/errors.md");
    let rendered = render_errors_doc();
    if std::env::var_os("CLOISTER_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &rendered).expect("write docs/errors.md");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == rendered,
        "docs/errors.md is stale: regenerate it with \
         `CLOISTER_UPDATE_DOCS=1 cargo test --release -p cloister-attestation errors_doc`"
    );
}
