//! Integration tests, built as one binary: real AWS documents, mutations of them, the mock
//! platform end to end, and property tests that no input panics the verifier.
#![allow(
    clippy::expect_used,
    reason = "integration tests: a helper outside a #[test] fn panicking is the calling test failing"
)]

#[path = "../common/claims_doc.rs"]
mod claims_doc;
mod fixtures;
mod mock_round_trip;
mod mutations;
mod properties;
mod real_documents;
