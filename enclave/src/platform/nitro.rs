//! The AWS Nitro Enclaves backend: attestation documents from the Nitro Secure Module (NSM) at
//! `/dev/nsm`, through `aws-nitro-enclaves-nsm-api`.
//!
//! Requests and responses go through the small [`NsmDriver`] trait. In an enclave it is
//! [`DevNsm`] (the crate's ioctl driver); in tests it is a recorder that answers with the nsm-api
//! types, so request construction and response handling are tested without the device. Nothing
//! in the tests opens `/dev/nsm`: on an ordinary machine it does not exist, and opening a device
//! node is not a unit test's business.
//!
//! What goes to the NSM (ARCHITECTURE.md, "Evidence and key binding"): `user_data` = the 48-byte
//! key binding, `nonce` = the verifier's nonce, `public_key` = none (left for an RSA key when AWS
//! KMS `Recipient` interop is used; see [`NitroPlatform::attest_with_public_key`]). Each field
//! may be at most 1024 bytes, the NSM's limit.
//!
//! Entropy: [`NitroPlatform::random_bytes`] reads the NSM's `GetRandom`. Key generation is not
//! fed from it directly: the identity keys come from aws-lc-rs and the `ohttp` crate's HPKE,
//! which draw on the kernel's `getrandom`, and inside a Nitro enclave the kernel's RNG is seeded
//! by the NSM driver (it registers the NSM as a hardware RNG). Mixing NSM bytes into those
//! libraries' key generation would need seeded constructors they do not offer; [`NitroPlatform::open`]
//! instead checks at boot that `GetRandom` answers, so an enclave without a working NSM never
//! starts.
//!
//! Dependency note: `aws-nitro-enclaves-nsm-api` encodes its messages with `serde_cbor`, which is
//! unmaintained (RUSTSEC-2021-0127). The enclave only sends requests it built itself and decodes
//! replies from its own NSM device.

use std::collections::BTreeMap;

use aws_nitro_enclaves_nsm_api::api::{ErrorCode, Request, Response};
use cloister_attestation::UnverifiedNitroDocument;
use cloister_attestation::nitro::MAX_DOCUMENT_LEN;
use cloister_attestation::nitro::document::MAX_OPTIONAL_FIELD_LEN;
use cloister_proto::EvidencePlatform;
use serde_bytes::ByteBuf;

use super::{AttestationPlatform, PlatformError, PlatformEvidence};

/// PCR values are SHA-384 digests.
pub const PCR_LEN: usize = 48;

/// The NSM has 32 PCRs.
pub const NUM_PCRS: u16 = 32;

/// Sends one request to the NSM and returns its response.
pub trait NsmDriver: Send + Sync {
    /// Processes `request`. Transport failures come back as `Response::Error`, as the nsm-api
    /// driver reports them.
    fn process(&self, request: Request) -> Response;
}

/// The real device, `/dev/nsm`, through the nsm-api driver's ioctl.
#[derive(Debug)]
pub struct DevNsm {
    fd: i32,
}

impl DevNsm {
    /// Opens `/dev/nsm`.
    ///
    /// # Errors
    /// [`PlatformError::NsmAbsent`] if the device cannot be opened (not inside a Nitro enclave).
    pub fn open() -> Result<Self, PlatformError> {
        let fd = aws_nitro_enclaves_nsm_api::driver::nsm_init();
        if fd < 0 {
            return Err(PlatformError::NsmAbsent);
        }
        Ok(Self { fd })
    }
}

impl NsmDriver for DevNsm {
    fn process(&self, request: Request) -> Response {
        aws_nitro_enclaves_nsm_api::driver::nsm_process_request(self.fd, request)
    }
}

impl Drop for DevNsm {
    fn drop(&mut self) {
        aws_nitro_enclaves_nsm_api::driver::nsm_exit(self.fd);
    }
}

/// One PCR as the NSM describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrValue {
    /// Locked PCRs can no longer be extended (PCR0-15 are locked at enclave start).
    pub locked: bool,
    /// The 48-byte value.
    pub value: [u8; PCR_LEN],
}

/// The Nitro backend over any [`NsmDriver`].
pub struct NitroPlatform<D: NsmDriver = DevNsm> {
    driver: D,
}

impl<D: NsmDriver> std::fmt::Debug for NitroPlatform<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NitroPlatform").finish_non_exhaustive()
    }
}

impl NitroPlatform<DevNsm> {
    /// Opens `/dev/nsm` and checks that the NSM answers (`GetRandom`).
    ///
    /// # Errors
    /// [`PlatformError::NsmAbsent`] if the device is absent, [`PlatformError::NsmHealth`] if it
    /// does not answer.
    pub fn open() -> Result<Self, PlatformError> {
        Self::with_driver(DevNsm::open()?)
    }
}

impl<D: NsmDriver> NitroPlatform<D> {
    /// The backend over `driver`, after checking that it answers `GetRandom`.
    ///
    /// # Errors
    /// [`PlatformError::NsmHealth`] if the NSM does not produce random bytes.
    pub fn with_driver(driver: D) -> Result<Self, PlatformError> {
        let platform = Self { driver };
        platform
            .random_bytes(32)
            .map_err(|e| PlatformError::NsmHealth(Box::new(e)))?;
        Ok(platform)
    }

    /// An attestation document with `user_data` = `binding`, `nonce` = `nonce` and, for AWS KMS
    /// `Recipient` interop, `public_key`.
    ///
    /// The document is parsed (not verified: that is the caller's job) to check that the NSM
    /// echoed the binding and nonce, so a driver fault is caught here and not at every caller.
    ///
    /// # Errors
    /// [`PlatformError::FieldTooLong`], [`PlatformError::NsmRefused`],
    /// [`PlatformError::NsmUnexpected`], or, for a document that is malformed or does not carry
    /// the binding and nonce, [`PlatformError::DocumentLength`], [`PlatformError::Malformed`] or
    /// [`PlatformError::NotEchoed`].
    pub fn attest_with_public_key(
        &self,
        binding: &[u8; 48],
        nonce: &[u8],
        public_key: Option<&[u8]>,
    ) -> Result<PlatformEvidence, PlatformError> {
        let request = attestation_request(binding, nonce, public_key)?;
        let document = match self.driver.process(request) {
            Response::Attestation { document } => document,
            Response::Error(code) => return Err(nsm_refused("Attestation", code)),
            other => return Err(unexpected("Attestation", &other)),
        };
        check_document(&document, binding, nonce, public_key)?;
        Ok(PlatformEvidence {
            evidence: document,
            collateral: Vec::new(),
        })
    }

    /// PCR `index` (0..32).
    ///
    /// # Errors
    /// [`PlatformError::PcrOutOfRange`], an NSM error, or [`PlatformError::PcrLength`] for a
    /// value that is not 48 bytes.
    pub fn describe_pcr(&self, index: u16) -> Result<PcrValue, PlatformError> {
        if index >= NUM_PCRS {
            return Err(PlatformError::PcrOutOfRange { index });
        }
        match self.driver.process(Request::DescribePCR { index }) {
            Response::DescribePCR { lock, data } => {
                let value: [u8; PCR_LEN] =
                    data.as_slice()
                        .try_into()
                        .map_err(|_| PlatformError::PcrLength {
                            index,
                            len: data.len(),
                        })?;
                Ok(PcrValue {
                    locked: lock,
                    value,
                })
            }
            Response::Error(code) => Err(nsm_refused("DescribePCR", code)),
            other => Err(unexpected("DescribePCR", &other)),
        }
    }

    /// PCR0, PCR1, PCR2 and PCR8: the image, kernel, application and signing-certificate
    /// measurements a policy pins.
    ///
    /// # Errors
    /// As [`describe_pcr`](Self::describe_pcr).
    pub fn image_pcrs(&self) -> Result<BTreeMap<u16, [u8; PCR_LEN]>, PlatformError> {
        [0, 1, 2, 8]
            .into_iter()
            .map(|i| Ok((i, self.describe_pcr(i)?.value)))
            .collect()
    }

    /// `len` bytes from the NSM's random number generator (`GetRandom`, repeated as needed).
    ///
    /// # Errors
    /// [`PlatformError::NsmRefused`], [`PlatformError::NsmUnexpected`], or
    /// [`PlatformError::NoRandom`] if it returns no bytes.
    pub fn random_bytes(&self, len: usize) -> Result<Vec<u8>, PlatformError> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            match self.driver.process(Request::GetRandom) {
                Response::GetRandom { random } if !random.is_empty() => {
                    let take = random.len().min(len - out.len());
                    out.extend_from_slice(random.get(..take).unwrap_or_default());
                }
                Response::GetRandom { .. } => {
                    return Err(PlatformError::NoRandom);
                }
                Response::Error(code) => return Err(nsm_refused("GetRandom", code)),
                other => return Err(unexpected("GetRandom", &other)),
            }
        }
        Ok(out)
    }
}

impl<D: NsmDriver> AttestationPlatform for NitroPlatform<D> {
    fn kind(&self) -> EvidencePlatform {
        EvidencePlatform::Nitro
    }

    fn attest(&self, binding: &[u8; 48], nonce: &[u8]) -> Result<PlatformEvidence, PlatformError> {
        NitroPlatform::attest_with_public_key(self, binding, nonce, None)
    }

    fn attest_with_public_key(
        &self,
        binding: &[u8; 48],
        nonce: &[u8],
        public_key: &[u8],
    ) -> Result<PlatformEvidence, PlatformError> {
        NitroPlatform::attest_with_public_key(self, binding, nonce, Some(public_key))
    }
}

/// The `Attestation` request: every field within the NSM's 1024-byte limit.
fn attestation_request(
    binding: &[u8; 48],
    nonce: &[u8],
    public_key: Option<&[u8]>,
) -> Result<Request, PlatformError> {
    for (field, len) in [
        ("nonce", nonce.len()),
        ("public_key", public_key.map_or(0, <[u8]>::len)),
    ] {
        if len > MAX_OPTIONAL_FIELD_LEN {
            return Err(PlatformError::FieldTooLong {
                field,
                len,
                max: MAX_OPTIONAL_FIELD_LEN,
            });
        }
    }
    Ok(Request::Attestation {
        user_data: Some(ByteBuf::from(binding.to_vec())),
        // An empty nonce is sent as absent: the NSM writes `null` either way.
        nonce: (!nonce.is_empty()).then(|| ByteBuf::from(nonce.to_vec())),
        public_key: public_key.map(|k| ByteBuf::from(k.to_vec())),
    })
}

/// The returned document parses and carries exactly what was asked for.
fn check_document(
    document: &[u8],
    binding: &[u8; 48],
    nonce: &[u8],
    public_key: Option<&[u8]>,
) -> Result<(), PlatformError> {
    if document.is_empty() || document.len() > MAX_DOCUMENT_LEN {
        return Err(PlatformError::DocumentLength {
            len: document.len(),
            max: MAX_DOCUMENT_LEN,
        });
    }
    let parsed =
        UnverifiedNitroDocument::parse(document).map_err(|source| PlatformError::Malformed {
            kind: "Nitro attestation document",
            len: document.len(),
            source: Box::new(source),
        })?;
    let expected_nonce = (!nonce.is_empty()).then_some(nonce);
    let echoed = [
        (
            "user_data",
            parsed.payload().user_data(),
            Some(&binding[..]),
        ),
        ("nonce", parsed.payload().nonce(), expected_nonce),
        ("public_key", parsed.payload().public_key(), public_key),
    ];
    for (field, got, want) in echoed {
        if got != want {
            return Err(PlatformError::NotEchoed { field });
        }
    }
    Ok(())
}

fn nsm_refused(request: &'static str, code: ErrorCode) -> PlatformError {
    PlatformError::NsmRefused { request, code }
}

fn unexpected(request: &'static str, response: &Response) -> PlatformError {
    // Name the variant only: a response may carry a document or random bytes.
    let variant = format!("{response:?}");
    let variant = variant
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default();
    PlatformError::NsmUnexpected {
        request,
        variant: variant.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use cloister_attestation::mock::{MockCa, MockNsm};
    use cloister_attestation::{NitroVerifier, UnixTime};

    use super::*;

    const NOW: u64 = 1_750_000_000;

    /// Answers like an NSM, from recorded shapes, and records every request.
    struct Recorder {
        requests: Mutex<Vec<String>>,
        answer: Box<dyn Fn(&Request) -> Response + Send + Sync>,
    }

    impl Recorder {
        fn new(answer: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Self {
            Self {
                requests: Mutex::new(Vec::new()),
                answer: Box::new(answer),
            }
        }

        fn requests(&self) -> Vec<String> {
            self.requests.lock().expect("lock").clone()
        }
    }

    impl NsmDriver for Recorder {
        fn process(&self, request: Request) -> Response {
            let response = (self.answer)(&request);
            self.requests
                .lock()
                .expect("lock")
                .push(format!("{request:?}"));
            response
        }
    }

    /// An NSM that works: random bytes, PCRs, and documents from a mock NSM, which writes the
    /// same COSE_Sign1 shape as the real one.
    fn working_nsm() -> (Recorder, MockCa) {
        let now = UnixTime::from_secs(NOW);
        let ca = MockCa::generate(now).expect("mock CA");
        let pcrs = BTreeMap::from([(0, [0x11; 48]), (1, [0x22; 48]), (2, [0x33; 48])]);
        let nsm = MockNsm::boot(ca.intermediate(), pcrs, "i-0-enc0".to_owned(), now).expect("nsm");
        let recorder = Recorder::new(move |request| match request {
            Request::GetRandom => Response::GetRandom {
                random: vec![0xa5; 256],
            },
            Request::DescribePCR { index } => Response::DescribePCR {
                lock: *index < 16,
                data: vec![u8::try_from(*index).unwrap_or(0); 48],
            },
            Request::Attestation {
                user_data,
                nonce,
                public_key,
            } => Response::Attestation {
                document: nsm
                    .attest(
                        user_data.as_deref().map(|b| &b[..]),
                        nonce.as_deref().map(|b| &b[..]),
                        public_key.as_deref().map(|b| &b[..]),
                        now,
                    )
                    .expect("mock attest"),
            },
            _ => Response::Error(ErrorCode::InvalidOperation),
        });
        (recorder, ca)
    }

    #[test]
    fn attest_sends_binding_and_nonce_and_returns_a_verifiable_document() {
        let (recorder, ca) = working_nsm();
        let platform = NitroPlatform::with_driver(recorder).expect("boots");
        assert_eq!(platform.kind(), EvidencePlatform::Nitro);
        let binding = [7u8; 48];
        let evidence = platform.attest(&binding, b"fresh nonce").expect("attests");
        assert!(evidence.collateral.is_empty());

        let requests = platform.driver.requests();
        assert_eq!(requests.len(), 2, "{requests:?}");
        assert_eq!(requests[0], "GetRandom", "boot health check");
        assert!(requests[1].starts_with("Attestation"), "{}", requests[1]);

        let verified = NitroVerifier::aws()
            .with_mock_root(ca.root_anchor())
            .verify(&evidence.evidence, UnixTime::from_secs(NOW))
            .expect("verifies");
        assert_eq!(verified.user_data(), Some(&binding[..]));
        assert_eq!(verified.nonce(), Some(&b"fresh nonce"[..]));
        assert_eq!(verified.public_key(), None);
    }

    #[test]
    fn attestation_request_shape() {
        let request = attestation_request(&[1; 48], b"n", Some(b"spki")).expect("request");
        let Request::Attestation {
            user_data,
            nonce,
            public_key,
        } = request
        else {
            panic!("not an Attestation request: {request:?}");
        };
        assert_eq!(user_data.as_deref().map(|b| &b[..]), Some(&[1u8; 48][..]));
        assert_eq!(nonce.as_deref().map(|b| &b[..]), Some(&b"n"[..]));
        assert_eq!(public_key.as_deref().map(|b| &b[..]), Some(&b"spki"[..]));

        let Request::Attestation {
            nonce, public_key, ..
        } = attestation_request(&[1; 48], b"", None).expect("request")
        else {
            panic!("not an Attestation request");
        };
        assert!(nonce.is_none() && public_key.is_none());

        let e = attestation_request(&[1; 48], &[0; 1025], None).expect_err("nonce too long");
        assert_eq!(e.code(), "platform.field_too_long");
        assert!(
            matches!(
                e,
                PlatformError::FieldTooLong {
                    field: "nonce",
                    len: 1025,
                    max: 1024
                }
            ),
            "{e:?}"
        );
        let e = attestation_request(&[1; 48], b"", Some(&[0; 1025])).expect_err("key too long");
        assert!(
            matches!(
                e,
                PlatformError::FieldTooLong {
                    field: "public_key",
                    ..
                }
            ),
            "{e:?}"
        );
        attestation_request(&[1; 48], &[0; 1024], Some(&[0; 1024])).expect("1024 is the limit");
    }

    #[test]
    fn public_key_is_passed_through_for_kms() {
        let (recorder, _) = working_nsm();
        let platform = NitroPlatform::with_driver(recorder).expect("boots");
        let evidence = platform
            .attest_with_public_key(&[2; 48], b"n", Some(b"rsa spki"))
            .expect("attests");
        let doc = UnverifiedNitroDocument::parse(&evidence.evidence).expect("parses");
        assert_eq!(doc.payload().public_key(), Some(&b"rsa spki"[..]));
    }

    #[test]
    fn nsm_errors_are_reported_with_their_code() {
        let ok_random = |r: &Request| matches!(r, Request::GetRandom);
        let platform = NitroPlatform::with_driver(Recorder::new(move |r| {
            if ok_random(r) {
                Response::GetRandom { random: vec![1; 8] }
            } else {
                Response::Error(ErrorCode::InvalidArgument)
            }
        }))
        .expect("boots");
        let e = platform.attest(&[0; 48], b"n").expect_err("refused");
        assert_eq!(e.code(), "platform.nsm_refused");
        assert!(
            matches!(
                e,
                PlatformError::NsmRefused {
                    request: "Attestation",
                    code: ErrorCode::InvalidArgument
                }
            ),
            "{e:?}"
        );
        let e = platform.describe_pcr(0).expect_err("refused");
        assert!(
            matches!(
                e,
                PlatformError::NsmRefused {
                    request: "DescribePCR",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn wrong_or_bad_responses_are_rejected() {
        // A response of the wrong kind.
        let platform = NitroPlatform::with_driver(Recorder::new(|r| match r {
            Request::GetRandom => Response::GetRandom {
                random: vec![1; 64],
            },
            _ => Response::LockPCRs,
        }))
        .expect("boots");
        let e = platform.attest(&[0; 48], b"n").expect_err("wrong kind");
        assert_eq!(e.code(), "platform.nsm_unexpected");
        assert!(
            matches!(&e, PlatformError::NsmUnexpected { request: "Attestation", variant } if variant == "LockPCRs"),
            "{e:?}"
        );

        // Garbage, empty and oversized documents.
        for (document, code) in [
            (vec![], "platform.document_length"),
            (b"not cbor".to_vec(), "platform.malformed_evidence"),
            (vec![0; MAX_DOCUMENT_LEN + 1], "platform.document_length"),
        ] {
            let len = document.len();
            let platform = NitroPlatform::with_driver(Recorder::new(move |r| match r {
                Request::GetRandom => Response::GetRandom {
                    random: vec![1; 64],
                },
                _ => Response::Attestation {
                    document: document.clone(),
                },
            }))
            .expect("boots");
            let e = platform.attest(&[0; 48], b"n").expect_err("bad document");
            assert_eq!(e.code(), code, "{len} bytes: {e}");
        }
    }

    #[test]
    fn a_document_without_our_binding_is_rejected() {
        // A real AWS document: well formed, but its user_data is someone else's.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/nitro/yawn+nitro-attest/attestation.cose");
        let real = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let platform = NitroPlatform::with_driver(Recorder::new(move |r| match r {
            Request::GetRandom => Response::GetRandom {
                random: vec![1; 64],
            },
            _ => Response::Attestation {
                document: real.clone(),
            },
        }))
        .expect("boots");
        let e = platform
            .attest(&[0; 48], b"n")
            .expect_err("not our binding");
        assert!(
            matches!(e, PlatformError::NotEchoed { field: "user_data" }),
            "{e:?}"
        );

        // And a mock NSM that drops the nonce.
        let (inner, _) = working_nsm();
        let platform = NitroPlatform::with_driver(Recorder::new(move |r| match r {
            Request::Attestation { user_data, .. } => inner.process(Request::Attestation {
                user_data: user_data.clone(),
                nonce: None,
                public_key: None,
            }),
            other => inner.process(match other {
                Request::DescribePCR { index } => Request::DescribePCR { index: *index },
                _ => Request::GetRandom,
            }),
        }))
        .expect("boots");
        let e = platform.attest(&[3; 48], b"n").expect_err("nonce dropped");
        assert!(
            matches!(e, PlatformError::NotEchoed { field: "nonce" }),
            "{e:?}"
        );
    }

    #[test]
    fn describe_pcr_and_image_pcrs() {
        let (recorder, _) = working_nsm();
        let platform = NitroPlatform::with_driver(recorder).expect("boots");
        let pcr = platform.describe_pcr(8).expect("pcr8");
        assert_eq!(
            pcr,
            PcrValue {
                locked: true,
                value: [8; 48]
            }
        );
        assert!(!platform.describe_pcr(16).expect("pcr16").locked);
        let e = platform.describe_pcr(32).expect_err("out of range");
        assert!(
            matches!(e, PlatformError::PcrOutOfRange { index: 32 }),
            "{e:?}"
        );
        let pcrs = platform.image_pcrs().expect("pcrs");
        assert_eq!(pcrs.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2, 8]);

        let short = NitroPlatform::with_driver(Recorder::new(|r| match r {
            Request::GetRandom => Response::GetRandom {
                random: vec![1; 64],
            },
            _ => Response::DescribePCR {
                lock: true,
                data: vec![0; 32],
            },
        }))
        .expect("boots");
        let e = short.describe_pcr(0).expect_err("32-byte PCR");
        assert!(
            matches!(e, PlatformError::PcrLength { index: 0, len: 32 }),
            "{e:?}"
        );
    }

    #[test]
    fn random_bytes_are_gathered_across_calls_and_checked_at_boot() {
        let (recorder, _) = working_nsm();
        let platform = NitroPlatform::with_driver(recorder).expect("boots");
        let bytes = platform.random_bytes(600).expect("random");
        assert_eq!(bytes.len(), 600);
        // 1 at boot, then 3 of 256 bytes for 600.
        assert_eq!(platform.driver.requests().len(), 4);

        let e =
            NitroPlatform::with_driver(Recorder::new(|_| Response::GetRandom { random: vec![] }))
                .expect_err("no entropy");
        assert_eq!(e.code(), "platform.nsm_health");
        assert_eq!(e.cause_code(), Some("platform.nsm_no_random"));
        assert!(e.is_setup());
        let e = NitroPlatform::with_driver(Recorder::new(|_| {
            Response::Error(ErrorCode::InternalError)
        }))
        .expect_err("NSM broken");
        assert_eq!(e.cause_code(), Some("platform.nsm_refused"));
    }
}
