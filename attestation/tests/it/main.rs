//! Integration tests, built as one binary: real AWS documents, mutations of them, the mock
//! platform end to end, and property tests that no input panics the verifier.

mod fixtures;
mod mock_round_trip;
mod mutations;
mod properties;
mod real_documents;
