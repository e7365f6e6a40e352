//! Errors of the mock platform (its CA files and key generation).

use std::path::PathBuf;

error_enum! {
    /// Why an operation of the mock platform failed.
    pub enum MockError {
        /// Reading or writing a mock CA file failed.
        #[error("mock CA file {path}: {source}")]
        Io {
            /// The file.
            path: PathBuf,
            /// The I/O error.
            #[source]
            source: std::io::Error,
        } => "mock.io", "check the path and its permissions";
        /// A mock CA directory lacks one of its files.
        #[error(
            "mock CA file {path} does not exist; run `cloister mock init DIR` to create the mock CA"
        )]
        MissingFile {
            /// The missing file.
            path: PathBuf,
        } => "mock.missing_file", "run `cloister mock init DIR` to create the mock CA";
        /// A mock CA file does not hold what it should.
        #[error("mock CA file {path} is invalid: {reason}")]
        InvalidFile {
            /// The file.
            path: PathBuf,
            /// What is wrong.
            reason: String,
        } => "mock.invalid_file",
            "recreate the mock CA with `cloister mock init DIR` (the files were edited or truncated)";
        /// Generating a key or certificate for the mock platform failed.
        #[error("mock platform: {what} failed: {reason}")]
        Crypto {
            /// The operation.
            what: &'static str,
            /// The library's message.
            reason: String,
        } => "mock.crypto", "this is a bug or a broken crypto library; report it";
    }
}
