use thiserror::Error;

/// A wire-format error. Each variant names the check that failed; [`ProtoError::code`] is stable.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtoError {
    /// The declared frame length exceeds the limit; the body was not read.
    #[error("frame of {declared} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// Length the frame header declared.
        declared: usize,
        /// The receiver's limit.
        limit: usize,
    },
    /// A frame header declared a zero-length body.
    #[error("frame declares an empty body")]
    EmptyFrame,
    /// The input ended before the frame did.
    #[error("frame truncated: needed {needed} bytes, {available} available")]
    Truncated {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes that arrived.
        available: usize,
    },
    /// The frame body is not a well-formed message.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Which structure failed to decode.
        what: &'static str,
        /// The decoder's description (never payload bytes).
        detail: String,
    },
    /// The peer speaks a protocol version we do not.
    #[error("unsupported {what} version {got} (supported: {supported})")]
    UnsupportedVersion {
        /// Which structure carries the version.
        what: &'static str,
        /// Version received.
        got: u16,
        /// Version we speak.
        supported: u16,
    },
    /// A field is longer than the format allows.
    #[error("{field} is {len} bytes, limit {limit}")]
    FieldTooLarge {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A field has the wrong fixed length.
    #[error("{field} must be {expected} bytes, got {len}")]
    BadLength {
        /// The field.
        field: &'static str,
        /// Required length.
        expected: usize,
        /// Actual length.
        len: usize,
    },
    /// Reading or writing the transport failed.
    #[error("transport I/O: {0}")]
    Io(String),
}

impl ProtoError {
    /// Stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::FrameTooLarge { .. } => "proto.frame_too_large",
            Self::EmptyFrame => "proto.frame_empty",
            Self::Truncated { .. } => "proto.truncated",
            Self::Malformed { .. } => "proto.malformed",
            Self::UnsupportedVersion { .. } => "proto.unsupported_version",
            Self::FieldTooLarge { .. } => "proto.field_too_large",
            Self::BadLength { .. } => "proto.bad_length",
            Self::Io(_) => "proto.io",
        }
    }

    pub(crate) fn malformed(what: &'static str, e: impl std::fmt::Display) -> Self {
        Self::Malformed {
            what,
            detail: e.to_string(),
        }
    }
}
