//! `cloister`: the caller and operator CLI. Exit codes: 0 success or accepted, 1 verification
//! or policy rejected, 2 usage or I/O error.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Cloister: attested, private inference. Verify an enclave before you trust it with a byte.
#[derive(Debug, Parser)]
#[command(name = "cloister", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify an enclave, send it an encrypted request, and check its signed result.
    Infer(cli::infer::InferArgs),
    /// Attestation evidence tools.
    #[command(subcommand)]
    Attest(AttestCommand),
    /// The mock platform used by CI and the demo.
    #[command(subcommand)]
    Mock(MockCommand),
    /// Nitro enclave images (EIF): describe, build, extract.
    #[command(subcommand)]
    Eif(cli::eif::EifCommand),
    /// Sealed models: publisher keys, sealing, inspection.
    #[command(subcommand)]
    Model(cli::model::ModelCommand),
    /// Expected SEV-SNP and TDX launch measurements of an image, and the policy that pins them.
    #[command(subcommand)]
    Measure(cli::measure::MeasureCommand),
    /// Boot a Nitro enclave image in a local microVM with an emulated NSM (mock evidence).
    #[command(subcommand)]
    Emulate(cli::emulate::EmulateCommand),
}

#[derive(Debug, Subcommand)]
enum AttestCommand {
    /// Verify an attestation document and print its normalized claims.
    Verify(cli::attest::VerifyArgs),
}

#[derive(Debug, Subcommand)]
enum MockCommand {
    /// Create a mock root CA and intermediate (P-384) in DIR, and a policy that trusts them.
    Init(cli::mock::InitArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Infer(args) => cli::infer::run(args),
        Command::Attest(AttestCommand::Verify(args)) => cli::attest::run(args),
        Command::Mock(MockCommand::Init(args)) => cli::mock::run(args),
        Command::Eif(cmd) => cli::eif::run(cmd),
        Command::Model(cmd) => cli::model::run(cmd),
        Command::Measure(cmd) => cli::measure::run(cmd),
        Command::Emulate(cmd) => cli::emulate::run(cmd),
    };
    ExitCode::from(outcome as u8)
}
