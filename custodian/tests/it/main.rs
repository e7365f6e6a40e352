//! The custodian end to end, with real (mock-platform) evidence: one test binary.

mod api;
mod cli;
mod examples;
mod harness;
