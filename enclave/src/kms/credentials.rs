//! The AWS credentials that sign the enclave's KMS call.
//!
//! They only *authorize* the call: what releases a key is the KMS key policy's attestation
//! condition, checked by KMS against the enclave's attestation document, and the plaintext comes
//! back encrypted to a key only this enclave boot holds. So the credentials may come from the
//! untrusted host, at run time, and are not part of the measurement (they expire within hours).
//!
//! The channel is the enclave process's environment, read once at start
//! ([`AwsCredentials::from_env`]): `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, for the
//! temporary credentials of an instance role, `AWS_SESSION_TOKEN` (the AWS SDKs' names).
//!
//! ```
//! use cloister_enclave::kms::credentials::AwsCredentials;
//! let creds = AwsCredentials::new("AKIDEXAMPLE", "secret", Some("token".into()))?;
//! assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
//! assert!(!format!("{creds:?}").contains("secret"));
//! # Ok::<(), cloister_enclave::kms::credentials::CredentialsError>(())
//! ```

use zeroize::Zeroizing;

/// Environment variable of the access key id.
pub const ENV_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// Environment variable of the secret access key.
pub const ENV_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// Environment variable of the session token (temporary credentials).
pub const ENV_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";

/// Most bytes of any one credential field (session tokens run to about 2 KiB).
const MAX_FIELD_LEN: usize = 8 * 1024;

/// An access key id, its secret (zeroized on drop, never printed) and an optional session token.
#[derive(Clone)]
pub struct AwsCredentials {
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
}

/// The credentials are missing or not usable in an HTTP header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// A required variable is not set (or is empty).
    #[error("{var} is not set: the KMS call needs AWS credentials")]
    Missing {
        /// The variable.
        var: &'static str,
    },
    /// A field is empty, too long, or not printable ASCII.
    #[error("{field} is not printable ASCII of 1 to {MAX_FIELD_LEN} bytes")]
    Invalid {
        /// The field.
        field: &'static str,
    },
}

impl CredentialsError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing { .. } => "enclave.kms.credentials_missing",
            Self::Invalid { .. } => "enclave.kms.credentials_invalid",
        }
    }

    /// What to do.
    pub fn hint(&self) -> &'static str {
        "start the enclave with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials) in its environment"
    }
}

impl AwsCredentials {
    /// Credentials from their parts.
    ///
    /// # Errors
    /// [`CredentialsError::Invalid`] for an empty, over-long or non-printable field.
    pub fn new(
        access_key_id: &str,
        secret_access_key: &str,
        session_token: Option<String>,
    ) -> Result<Self, CredentialsError> {
        let check = |field: &'static str, v: &str| {
            if v.is_empty() || v.len() > MAX_FIELD_LEN || !v.bytes().all(|b| b.is_ascii_graphic()) {
                Err(CredentialsError::Invalid { field })
            } else {
                Ok(())
            }
        };
        check("access key id", access_key_id)?;
        check("secret access key", secret_access_key)?;
        if let Some(token) = &session_token {
            check("session token", token)?;
        }
        Ok(Self {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: Zeroizing::new(secret_access_key.to_owned()),
            session_token: session_token.map(Zeroizing::new),
        })
    }

    /// Reads [`ENV_ACCESS_KEY_ID`], [`ENV_SECRET_ACCESS_KEY`] and [`ENV_SESSION_TOKEN`].
    ///
    /// # Errors
    /// [`CredentialsError::Missing`] if the first two are not both set;
    /// [`CredentialsError::Invalid`] as [`AwsCredentials::new`].
    pub fn from_env() -> Result<Self, CredentialsError> {
        let var = |name: &'static str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let id = var(ENV_ACCESS_KEY_ID).ok_or(CredentialsError::Missing {
            var: ENV_ACCESS_KEY_ID,
        })?;
        let secret =
            Zeroizing::new(var(ENV_SECRET_ACCESS_KEY).ok_or(CredentialsError::Missing {
                var: ENV_SECRET_ACCESS_KEY,
            })?);
        Self::new(&id, &secret, var(ENV_SESSION_TOKEN))
    }

    /// The access key id (public: it appears in every `Authorization` header).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key.
    pub(crate) fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The session token, sent as `X-Amz-Security-Token`.
    pub(crate) fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref().map(String::as_str)
    }
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("session_token", &self.session_token.is_some())
            .finish_non_exhaustive()
    }
}
