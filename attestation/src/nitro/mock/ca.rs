//! The mock PKI: a P-384 root and intermediate CA shaped like AWS's, kept in a directory.
//!
//! `DIR/root.pem`, `DIR/intermediate.pem` (certificates, PEM) and `DIR/root.key.pem`,
//! `DIR/intermediate.key.pem` (PKCS#8 PEM, mode 0600). The enclave needs only the intermediate
//! ([`MockIntermediate::load_dir`]); verifiers need only `root.pem`.

use crate::error::MockError;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use der::Decode;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyUsagePurpose, SerialNumber,
};
use time::OffsetDateTime;
use x509_cert::Certificate;

use super::keys::{CaKey, LeafKey};
use crate::nitro::TrustAnchor;
use crate::{AttestationError, Platform, UnixTime};

/// File name of the root certificate.
pub const ROOT_CERT_FILE: &str = "root.pem";
/// File name of the root key.
pub const ROOT_KEY_FILE: &str = "root.key.pem";
/// File name of the intermediate certificate.
pub const INTERMEDIATE_CERT_FILE: &str = "intermediate.pem";
/// File name of the intermediate key.
pub const INTERMEDIATE_KEY_FILE: &str = "intermediate.key.pem";

/// How long the mock CAs live: ten years.
const CA_LIFETIME_SECS: u64 = 3653 * 24 * 3600;
/// CA certificates start an hour before `now`, to tolerate clock differences between machines.
const CA_BACKDATE_SECS: u64 = 3600;

/// A mock root CA and the intermediate it signed.
pub struct MockCa {
    root_key: CaKey,
    intermediate: MockIntermediate,
}

/// The mock intermediate CA (certificate and key) plus the root certificate: everything a mock
/// enclave needs to issue its per-boot attestation certificates.
#[derive(Clone)]
pub struct MockIntermediate {
    root: TrustAnchor,
    cert_der: Vec<u8>,
    key: Arc<CaKey>,
}

impl MockCa {
    /// Generates a fresh root (10 years, no path length limit) and intermediate (pathLen 0)
    /// valid from an hour before `now`.
    ///
    /// # Errors
    ///
    /// `mock.crypto` if key generation or signing fails; `api.misuse` if `now` is beyond what
    /// X.509 can express.
    pub fn generate(now: UnixTime) -> Result<Self, AttestationError> {
        let not_before = now.saturating_sub_secs(CA_BACKDATE_SECS);
        let not_after = now.saturating_add_secs(CA_LIFETIME_SECS);

        let root_key = CaKey::generate()?;
        let root_params = ca_params(
            "Cloister Mock Root CA",
            BasicConstraints::Unconstrained,
            not_before,
            not_after,
        )?;
        let root_cert = root_params
            .self_signed(&root_key)
            .map_err(rcgen_error("root certificate"))?;

        let intermediate_key = CaKey::generate()?;
        let mut intermediate_params = ca_params(
            "Cloister Mock Intermediate CA",
            BasicConstraints::Constrained(0),
            not_before,
            not_after,
        )?;
        intermediate_params.use_authority_key_identifier_extension = true;
        let root_issuer = Issuer::from_params(&root_params, &root_key);
        let intermediate_cert = intermediate_params
            .signed_by(&intermediate_key, &root_issuer)
            .map_err(rcgen_error("intermediate certificate"))?;

        Ok(Self {
            root_key,
            intermediate: MockIntermediate {
                root: TrustAnchor::from_der(Platform::Mock, root_cert.der().to_vec())?,
                cert_der: intermediate_cert.der().to_vec(),
                key: Arc::new(intermediate_key),
            },
        })
    }

    /// Writes the four files into `dir` (created if missing). Keys get mode 0600.
    ///
    /// # Errors
    ///
    /// `mock.io` naming the file that could not be written.
    pub fn write_to_dir(&self, dir: &Path) -> Result<(), AttestationError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        write_file(
            &dir.join(ROOT_CERT_FILE),
            cert_pem(self.intermediate.root.der())?.as_bytes(),
            false,
        )?;
        write_file(
            &dir.join(INTERMEDIATE_CERT_FILE),
            cert_pem(&self.intermediate.cert_der)?.as_bytes(),
            false,
        )?;
        write_file(
            &dir.join(ROOT_KEY_FILE),
            self.root_key.to_pkcs8_pem()?.as_bytes(),
            true,
        )?;
        write_file(
            &dir.join(INTERMEDIATE_KEY_FILE),
            self.intermediate.key.to_pkcs8_pem()?.as_bytes(),
            true,
        )?;
        Ok(())
    }

    /// Reads a mock CA written by [`MockCa::write_to_dir`].
    ///
    /// # Errors
    ///
    /// `mock.missing_file` (naming the file; run `cloister mock init DIR`), `mock.io`, or
    /// `mock.invalid_file` if a file does not parse or a key does not match its certificate.
    pub fn load_dir(dir: &Path) -> Result<Self, AttestationError> {
        let intermediate = MockIntermediate::load_dir(dir)?;
        let path = dir.join(ROOT_KEY_FILE);
        let root_key = load_key(&path)?;
        if root_key.public_point()
            != cert_public_point(intermediate.root.der(), &dir.join(ROOT_CERT_FILE))?
        {
            return Err(MockError::InvalidFile {
                path,
                reason: format!("key does not match the certificate in {ROOT_CERT_FILE}"),
            }
            .into());
        }
        Ok(Self {
            root_key,
            intermediate,
        })
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> &[u8] {
        self.intermediate.root.der()
    }

    /// SHA-256 of the DER root certificate: the value a policy's `trusted_mock_root_sha256`
    /// names.
    pub fn root_sha256(&self) -> [u8; 32] {
        self.intermediate.root_sha256()
    }

    /// The root as a [`Platform::Mock`] trust anchor.
    pub fn root_anchor(&self) -> TrustAnchor {
        self.intermediate.root_anchor()
    }

    /// The intermediate CA, for [`MockNsm::boot`](super::MockNsm::boot).
    pub fn intermediate(&self) -> &MockIntermediate {
        &self.intermediate
    }
}

impl AsRef<MockIntermediate> for MockCa {
    fn as_ref(&self) -> &MockIntermediate {
        &self.intermediate
    }
}

impl fmt::Debug for MockCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockCa")
            .field("root_sha256", &hex::encode(self.root_sha256()))
            .finish_non_exhaustive()
    }
}

impl MockIntermediate {
    /// Reads `root.pem`, `intermediate.pem` and `intermediate.key.pem` from `dir` (the root key
    /// is not needed to run a mock enclave).
    ///
    /// # Errors
    ///
    /// As [`MockCa::load_dir`].
    pub fn load_dir(dir: &Path) -> Result<Self, AttestationError> {
        let root_path = dir.join(ROOT_CERT_FILE);
        let root = TrustAnchor::from_der(Platform::Mock, load_cert(&root_path)?)?;
        let cert_path = dir.join(INTERMEDIATE_CERT_FILE);
        let cert_der = load_cert(&cert_path)?;
        let key_path = dir.join(INTERMEDIATE_KEY_FILE);
        let key = load_key(&key_path)?;
        if key.public_point() != cert_public_point(&cert_der, &cert_path)? {
            return Err(MockError::InvalidFile {
                path: key_path,
                reason: format!("key does not match the certificate in {INTERMEDIATE_CERT_FILE}"),
            }
            .into());
        }
        Ok(Self {
            root,
            cert_der,
            key: Arc::new(key),
        })
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> &[u8] {
        self.root.der()
    }

    /// The intermediate certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// SHA-256 of the DER root certificate.
    pub fn root_sha256(&self) -> [u8; 32] {
        self.root.sha256()
    }

    /// The root as a [`Platform::Mock`] trust anchor.
    pub fn root_anchor(&self) -> TrustAnchor {
        self.root.clone()
    }

    /// Issues an attestation leaf certificate (CA:FALSE, digitalSignature) for `key`.
    pub(crate) fn issue_leaf(
        &self,
        module_id: &str,
        key: &LeafKey,
        not_before: UnixTime,
        not_after: UnixTime,
    ) -> Result<Vec<u8>, AttestationError> {
        let mut params = mock_params(&[(DnType::CommonName, module_id)], not_before, not_after)?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let issuer_pem = cert_pem(&self.cert_der)?;
        let issuer = Issuer::from_ca_cert_pem(&issuer_pem, &*self.key)
            .map_err(rcgen_error("reading the intermediate certificate"))?;
        let cert = params
            .signed_by(key, &issuer)
            .map_err(rcgen_error("leaf certificate"))?;
        Ok(cert.der().to_vec())
    }
}

impl AsRef<MockIntermediate> for MockIntermediate {
    fn as_ref(&self) -> &MockIntermediate {
        self
    }
}

impl fmt::Debug for MockIntermediate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockIntermediate")
            .field("root_sha256", &hex::encode(self.root_sha256()))
            .finish_non_exhaustive()
    }
}

fn ca_params(
    common_name: &str,
    constraints: BasicConstraints,
    not_before: UnixTime,
    not_after: UnixTime,
) -> Result<CertificateParams, AttestationError> {
    let mut params = mock_params(
        &[
            (DnType::OrganizationalUnitName, "NOT FOR PRODUCTION"),
            (DnType::CommonName, common_name),
        ],
        not_before,
        not_after,
    )?;
    params.is_ca = IsCa::Ca(constraints);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    Ok(params)
}

/// What every mock certificate has: O = "Cloister mock", then `names`, the validity window and a
/// random serial.
fn mock_params(
    names: &[(DnType, &str)],
    not_before: UnixTime,
    not_after: UnixTime,
) -> Result<CertificateParams, AttestationError> {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Cloister mock");
    for (kind, value) in names {
        params.distinguished_name.push(kind.clone(), *value);
    }
    params.not_before = offset(not_before)?;
    params.not_after = offset(not_after)?;
    params.serial_number = Some(random_serial()?);
    Ok(params)
}

fn offset(t: UnixTime) -> Result<OffsetDateTime, AttestationError> {
    i64::try_from(t.as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or_else(|| AttestationError::ApiMisuse {
            what: format!("time {t} is outside the range X.509 can express"),
        })
}

/// 16 random bytes, top bit clear so the DER INTEGER stays positive without padding.
fn random_serial() -> Result<SerialNumber, AttestationError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| MockError::Crypto {
        what: "random serial number",
        reason: "aws-lc-rs reported an unspecified error".to_owned(),
    })?;
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

fn rcgen_error(what: &'static str) -> impl Fn(rcgen::Error) -> AttestationError {
    move |e| {
        MockError::Crypto {
            what,
            reason: e.to_string(),
        }
        .into()
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> AttestationError + '_ {
    move |source| {
        MockError::Io {
            path: path.to_path_buf(),
            source,
        }
        .into()
    }
}

fn cert_pem(der: &[u8]) -> Result<String, AttestationError> {
    Ok(
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).map_err(|e| {
            MockError::Crypto {
                what: "PEM encoding",
                reason: e.to_string(),
            }
        })?,
    )
}

/// Writes `contents` to `path`; secret files are restricted to the owner before any byte is
/// written (also when the file already existed with wider permissions).
fn write_file(path: &Path, contents: &[u8], secret: bool) -> Result<(), AttestationError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_error(path))?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io_error(path))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    file.write_all(contents).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

fn read_file(path: &Path) -> Result<Vec<u8>, AttestationError> {
    match fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(MockError::MissingFile {
            path: path.to_path_buf(),
        }
        .into()),
        Err(source) => Err(MockError::Io {
            path: path.to_path_buf(),
            source,
        }
        .into()),
    }
}

fn load_cert(path: &Path) -> Result<Vec<u8>, AttestationError> {
    let pem = read_file(path)?;
    let invalid = |reason: String| MockError::InvalidFile {
        path: PathBuf::from(path),
        reason,
    };
    let (label, der) = der::pem::decode_vec(&pem).map_err(|e| invalid(e.to_string()))?;
    if label != "CERTIFICATE" {
        return Err(invalid(format!("PEM label {label:?}, expected \"CERTIFICATE\"")).into());
    }
    Certificate::from_der(&der).map_err(|e| invalid(format!("not an X.509 certificate: {e}")))?;
    Ok(der)
}

fn load_key(path: &Path) -> Result<CaKey, AttestationError> {
    let pem = zeroize::Zeroizing::new(read_file(path)?);
    Ok(
        CaKey::from_pkcs8_pem(&pem).map_err(|reason| MockError::InvalidFile {
            path: path.to_path_buf(),
            reason,
        })?,
    )
}

fn cert_public_point(der: &[u8], path: &Path) -> Result<Vec<u8>, AttestationError> {
    let invalid = |reason: String| MockError::InvalidFile {
        path: path.to_path_buf(),
        reason,
    };
    let cert = Certificate::from_der(der).map_err(|e| invalid(e.to_string()))?;
    Ok(cert
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .as_bytes()
        .map(<[u8]>::to_vec)
        .ok_or_else(|| invalid("public key BIT STRING has unused bits".to_owned()))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = UnixTime::from_secs(1_750_000_000);

    #[test]
    fn write_then_load_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = MockCa::generate(NOW).expect("generate");
        ca.write_to_dir(dir.path()).expect("write");
        let loaded = MockCa::load_dir(dir.path()).expect("load");
        assert_eq!(loaded.root_der(), ca.root_der());
        assert_eq!(loaded.root_sha256(), ca.root_sha256());
        assert_eq!(
            loaded.intermediate().certificate_der(),
            ca.intermediate().certificate_der()
        );
        let inter = MockIntermediate::load_dir(dir.path()).expect("load intermediate");
        assert_eq!(inter.root_sha256(), ca.root_sha256());
        assert_eq!(ca.root_anchor().platform(), Platform::Mock);
        assert_eq!(ca.root_anchor().sha256(), ca.root_sha256());
    }

    #[cfg(unix)]
    #[test]
    fn keys_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        // A pre-existing, world-readable key file must end up 0600 too.
        fs::write(dir.path().join(ROOT_KEY_FILE), b"old").expect("write");
        fs::set_permissions(
            dir.path().join(ROOT_KEY_FILE),
            fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        MockCa::generate(NOW)
            .expect("generate")
            .write_to_dir(dir.path())
            .expect("write");
        for (file, mode) in [(ROOT_KEY_FILE, 0o600), (INTERMEDIATE_KEY_FILE, 0o600)] {
            let meta = fs::metadata(dir.path().join(file)).expect("stat");
            assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
        }
    }

    #[test]
    fn missing_files_name_the_file_and_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = MockCa::load_dir(dir.path()).expect_err("empty dir");
        assert_eq!(e.code(), "mock.missing_file");
        let msg = e.to_string();
        assert!(msg.contains(ROOT_CERT_FILE), "{msg}");
        assert!(msg.contains("cloister mock init DIR"), "{msg}");

        MockCa::generate(NOW)
            .expect("generate")
            .write_to_dir(dir.path())
            .expect("write");
        fs::remove_file(dir.path().join(INTERMEDIATE_KEY_FILE)).expect("rm");
        let e = MockIntermediate::load_dir(dir.path()).expect_err("no key");
        assert_eq!(e.code(), "mock.missing_file");
        assert!(e.to_string().contains(INTERMEDIATE_KEY_FILE));
    }

    #[test]
    fn mismatched_or_corrupt_files_are_invalid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = MockCa::generate(NOW).expect("generate");
        let b = MockCa::generate(NOW).expect("generate");
        a.write_to_dir(dir.path()).expect("write");
        let other = tempfile::tempdir().expect("tempdir");
        b.write_to_dir(other.path()).expect("write");
        fs::copy(
            other.path().join(INTERMEDIATE_KEY_FILE),
            dir.path().join(INTERMEDIATE_KEY_FILE),
        )
        .expect("copy");
        let e = MockIntermediate::load_dir(dir.path()).expect_err("wrong key");
        assert_eq!(e.code(), "mock.invalid_file");

        fs::write(dir.path().join(ROOT_CERT_FILE), b"not pem").expect("write");
        let e = MockCa::load_dir(dir.path()).expect_err("bad pem");
        assert_eq!(e.code(), "mock.invalid_file");
    }
}
