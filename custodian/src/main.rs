//! `cloister-custodian`: the key custodian's command line. See the crate docs of
//! `cloister_custodian` and custodian/README.md.
//!
//! Exit codes: 0 ok, 2 error (with its code and a hint on stderr).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cloister_custodian::StartError;
use cloister_custodian::config::{self, Config};

/// The Cloister key custodian: releases model data keys to attested enclaves.
#[derive(Debug, Parser)]
#[command(name = "cloister-custodian", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a KEK, a signing key, an admin token and custodian.json in DIR; print the public
    /// key enclaves pin.
    Init {
        /// Directory to write into (created if missing; existing files are never overwritten).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Listen address written into the config.
        #[arg(long, value_name = "IP:PORT", default_value = config::DEFAULT_LISTEN)]
        listen: SocketAddr,
    },
    /// Print the custodian's public key (hex) again.
    Pubkey {
        /// The custodian.json.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Check or export the audit chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Re-wrap every data key under the current KEK (`kek` in custodian.json), unwrapping with
    /// `previous_keks`. Safe while the custodian serves: each key is swapped in its own
    /// transaction with its audit record. Add the new KEK as `kek`, move the old one to
    /// `previous_keks`, restart the custodian, run this, then drop the old KEK from the config.
    RotateKek {
        /// The custodian.json.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Apply the PostgreSQL schema migrations the database lacks (for `"store": "postgres://..."`;
    /// safe to run from several hosts at once). SQLite stores set themselves up.
    Migrate {
        /// The custodian.json.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Serve the HTTP API until Ctrl-C.
    Serve {
        /// The custodian.json.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Write the bound address here once listening (use with a listen port of 0).
        #[arg(long, value_name = "FILE")]
        addr_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the chain from the first record: links, hashes and signatures. Prints the count
    /// and the head hash; exits 2 naming the first broken record.
    Verify {
        /// The custodian.json.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Write the records since a time as JSON lines (body, hash, signature) for a SIEM.
    Export {
        /// The custodian.json.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Unix seconds; records at or after it (default: all).
        #[arg(long, value_name = "UNIX_SECONDS", default_value_t = 0)]
        since: u64,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cloister-custodian: error [{}]: {e}", e.code());
            eprintln!("  hint: {}", e.hint());
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<(), StartError> {
    match args.command {
        Command::Init { dir, listen } => {
            let made = config::init(&dir, listen)?;
            eprintln!(
                "wrote {} (KEK, signing key and admin token beside it, mode 0600)",
                made.config_path.display()
            );
            println!("{}", hex::encode(made.public_key));
            Ok(())
        }
        Command::Pubkey { config } => {
            let config = Config::load(&config)?;
            let signer = cloister_custodian::start::load_signer(&config.signing_key)?;
            use aws_lc_rs::signature::KeyPair;
            println!("{}", hex::encode(signer.public_key().as_ref()));
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify { config },
        } => {
            let config = Config::load(&config)?;
            let report = cloister_custodian::admin_cli::verify_audit(&config)?;
            println!("{report}");
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Export { config, since },
        } => {
            let config = Config::load(&config)?;
            let mut out = std::io::stdout().lock();
            cloister_custodian::admin_cli::export_audit(&config, since, &mut out)
        }
        Command::Migrate { config } => {
            let config = Config::load(&config)?;
            let Some(pg) = config.postgres() else {
                eprintln!("the store is SQLite ({}): nothing to migrate", config.store);
                return Ok(());
            };
            let applied = cloister_custodian::store::migrate(&pg)?;
            eprintln!(
                "{}: applied {} migration(s) {:?}",
                pg.location(),
                applied.len(),
                applied
            );
            Ok(())
        }
        Command::RotateKek { config } => {
            let config = Config::load(&config)?;
            let n = cloister_custodian::admin_cli::rotate_kek(&config)?;
            eprintln!("re-wrapped {n} key(s)");
            Ok(())
        }
        Command::Serve { config, addr_file } => {
            let config = Config::load(&config)?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(StartError::Runtime)?
                .block_on(cloister_custodian::start::serve(
                    &config,
                    addr_file.as_deref(),
                ))
        }
    }
}
