//! The custodian end to end, built as one binary: the HTTP API with real (mock-platform)
//! evidence, the shipped example policies, and the `cloister-custodian` binary itself.
#![allow(
    clippy::expect_used,
    reason = "integration tests: a helper outside a #[test] fn panicking is the calling test failing"
)]

mod api;
mod cli;
mod examples;
mod harness;
mod process;
mod production;
mod replicas;
