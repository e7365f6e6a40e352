//! Starting, watching and stopping one enclave: the mock as a child process, a Nitro enclave
//! through `nitro-cli`. The command lines are built by plain functions so they can be tested
//! where there is no `nitro-cli`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;

use super::config::EnclaveSpec;
use super::error::SupervisorError;
use crate::transport::EnclaveAddr;

/// How long a `nitro-cli` call other than `run-enclave` may take.
const NITRO_CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a killed mock enclave may take to be reaped.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes of a failed `nitro-cli`'s standard error kept for the error message.
const STDERR_TAIL: usize = 2048;

/// A program and its arguments.
///
/// ```
/// use cloister_host::supervisor::launch::nitro_run_command;
/// let c = nitro_run_command("nitro-cli".as_ref(), "/opt/e.eif".as_ref(), 2, 1024, Some(16), false);
/// assert_eq!(c.to_string(), "nitro-cli run-enclave --eif-path /opt/e.eif --cpu-count 2 --memory 1024 --enclave-cid 16");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
}

impl CommandLine {
    fn new(program: &Path, args: impl IntoIterator<Item = impl Into<OsString>>) -> Self {
        Self {
            program: program.to_path_buf(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// A [`tokio::process::Command`] for it, killed if its handle is dropped.
    pub fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args).stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }
}

impl std::fmt::Display for CommandLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.program.display())?;
        for a in &self.args {
            write!(f, " {}", a.to_string_lossy())?;
        }
        Ok(())
    }
}

/// The mock enclave: `binary` with `args`, as configured.
pub fn mock_command(binary: &Path, args: &[String]) -> CommandLine {
    CommandLine::new(binary, args)
}

/// `nitro-cli run-enclave --eif-path EIF --cpu-count N --memory MIB [--enclave-cid CID]
/// [--debug-mode]`.
pub fn nitro_run_command(
    nitro_cli: &Path,
    eif_path: &Path,
    cpu_count: u32,
    memory_mib: u64,
    cid: Option<u32>,
    debug_mode: bool,
) -> CommandLine {
    let mut args: Vec<OsString> = vec![
        "run-enclave".into(),
        "--eif-path".into(),
        eif_path.into(),
        "--cpu-count".into(),
        cpu_count.to_string().into(),
        "--memory".into(),
        memory_mib.to_string().into(),
    ];
    if let Some(cid) = cid {
        args.extend(["--enclave-cid".into(), cid.to_string().into()]);
    }
    if debug_mode {
        args.push("--debug-mode".into());
    }
    CommandLine::new(nitro_cli, args)
}

/// `nitro-cli terminate-enclave --enclave-id ID`.
pub fn nitro_terminate_command(nitro_cli: &Path, enclave_id: &str) -> CommandLine {
    CommandLine::new(nitro_cli, ["terminate-enclave", "--enclave-id", enclave_id])
}

/// `nitro-cli describe-enclaves`.
pub fn nitro_describe_command(nitro_cli: &Path) -> CommandLine {
    CommandLine::new(nitro_cli, ["describe-enclaves"])
}

/// What `nitro-cli run-enclave` reports about the enclave it started (its JSON output; the
/// fields Cloister uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NitroRunInfo {
    /// The id `terminate-enclave` takes.
    #[serde(rename = "EnclaveID")]
    pub enclave_id: String,
    /// The CID it got.
    #[serde(rename = "EnclaveCID")]
    pub enclave_cid: u64,
}

/// Reads `nitro-cli run-enclave`'s output: progress lines, then one JSON object.
///
/// # Errors
/// The JSON error if there is no such object.
pub fn parse_run_output(stdout: &[u8]) -> Result<NitroRunInfo, serde_json::Error> {
    first_json(stdout, b'{')
}

/// Whether `nitro-cli describe-enclaves`'s output lists `enclave_id` as running.
///
/// # Errors
/// The JSON error if the output is not a JSON array of enclaves.
pub fn parse_describe_running(stdout: &[u8], enclave_id: &str) -> Result<bool, serde_json::Error> {
    #[derive(Deserialize)]
    struct Described {
        #[serde(rename = "EnclaveID")]
        enclave_id: String,
        #[serde(rename = "State")]
        state: String,
    }
    let enclaves: Vec<Described> = first_json(stdout, b'[')?;
    Ok(enclaves
        .iter()
        .any(|e| e.enclave_id == enclave_id && e.state.eq_ignore_ascii_case("running")))
}

/// The first JSON value in `out` that starts with `open`, skipping the lines before it.
fn first_json<T: serde::de::DeserializeOwned>(
    out: &[u8],
    open: u8,
) -> Result<T, serde_json::Error> {
    let start = out.iter().position(|b| *b == open).unwrap_or(out.len());
    let rest = out.get(start..).unwrap_or_default();
    let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<T>();
    match values.next() {
        Some(value) => value,
        // An empty input gives the "EOF while parsing" error, naming what was expected.
        None => serde_json::from_slice(rest),
    }
}

/// A started enclave.
#[derive(Debug)]
pub(crate) enum Running {
    /// The mock: our child process.
    Process(tokio::process::Child),
    /// A Nitro enclave, watched through `nitro-cli describe-enclaves`.
    Nitro {
        id: String,
        nitro_cli: PathBuf,
        poll: Duration,
    },
}

/// Starts the enclave `spec` describes.
///
/// # Errors
/// [`SupervisorError::Spawn`], [`SupervisorError::LogFile`], or a `nitro-cli` error.
pub(crate) async fn launch(
    spec: &EnclaveSpec,
    addr: &EnclaveAddr,
    timeout: Duration,
) -> Result<Running, SupervisorError> {
    match spec {
        EnclaveSpec::Mock {
            binary,
            args,
            log_file,
        } => {
            let line = mock_command(binary, args);
            let mut cmd = line.command();
            match log_file {
                Some(path) => {
                    let log_error = |source| SupervisorError::LogFile {
                        path: path.clone(),
                        source,
                    };
                    let file = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(log_error)?;
                    cmd.stdout(file.try_clone().map_err(log_error)?)
                        .stderr(file);
                }
                None => {
                    cmd.stdout(Stdio::null());
                }
            }
            let child = cmd.spawn().map_err(|source| SupervisorError::Spawn {
                program: binary.clone(),
                source,
            })?;
            tracing::info!(command = %line, pid = child.id(), "started the mock enclave");
            Ok(Running::Process(child))
        }
        EnclaveSpec::Nitro {
            eif_path,
            cpu_count,
            memory_mib,
            debug_mode,
            nitro_cli,
            poll_interval_ms,
        } => {
            let cid = match addr {
                EnclaveAddr::Vsock { cid, .. } => Some(*cid),
                EnclaveAddr::Unix(_) | EnclaveAddr::HybridVsock { .. } => None,
            };
            let line = nitro_run_command(
                nitro_cli,
                eif_path,
                *cpu_count,
                *memory_mib,
                cid,
                *debug_mode,
            );
            let out = run_cli(&line, "run-enclave", timeout).await?;
            let info =
                parse_run_output(&out).map_err(|source| SupervisorError::NitroCliOutput {
                    command: "run-enclave",
                    source,
                })?;
            tracing::info!(command = %line, enclave_id = %info.enclave_id, cid = info.enclave_cid, "started the Nitro enclave");
            Ok(Running::Nitro {
                id: info.enclave_id,
                nitro_cli: nitro_cli.clone(),
                poll: Duration::from_millis(*poll_interval_ms),
            })
        }
    }
}

impl Running {
    /// The mock enclave's process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        match self {
            Self::Process(child) => child.id(),
            Self::Nitro { .. } => None,
        }
    }

    /// Waits until the enclave has exited; says how. Cancel-safe.
    pub(crate) async fn exited(&mut self) -> String {
        match self {
            Self::Process(child) => match child.wait().await {
                Ok(status) => status.to_string(),
                Err(e) => format!("waiting for the process failed: {e}"),
            },
            Self::Nitro {
                id,
                nitro_cli,
                poll,
            } => {
                let line = nitro_describe_command(nitro_cli);
                loop {
                    tokio::time::sleep(*poll).await;
                    let listed = run_cli(&line, "describe-enclaves", NITRO_CLI_TIMEOUT)
                        .await
                        .and_then(|out| {
                            parse_describe_running(&out, id).map_err(|source| {
                                SupervisorError::NitroCliOutput {
                                    command: "describe-enclaves",
                                    source,
                                }
                            })
                        });
                    match listed {
                        Ok(true) => {}
                        Ok(false) => return format!("enclave {id} is no longer running"),
                        // A failed check is not an exit: restarting a running enclave would
                        // fail on its CID anyway.
                        Err(e) => {
                            tracing::warn!(code = e.code(), error = %e, "checking the enclave failed");
                        }
                    }
                }
            }
        }
    }

    /// Stops the enclave: kills the mock process (it holds nothing that needs a clean exit:
    /// keys die with it), or `nitro-cli terminate-enclave`.
    ///
    /// # Errors
    /// [`SupervisorError::Stop`] or a `nitro-cli` error.
    pub(crate) async fn stop(self) -> Result<(), SupervisorError> {
        match self {
            Self::Process(mut child) => {
                if child.try_wait().map_err(SupervisorError::Stop)?.is_some() {
                    return Ok(());
                }
                child.start_kill().map_err(SupervisorError::Stop)?;
                match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
                    Ok(status) => status.map(|_| ()).map_err(SupervisorError::Stop),
                    Err(_) => Err(SupervisorError::Stop(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the killed enclave process was not reaped in time",
                    ))),
                }
            }
            Self::Nitro { id, nitro_cli, .. } => {
                let line = nitro_terminate_command(&nitro_cli, &id);
                run_cli(&line, "terminate-enclave", NITRO_CLI_TIMEOUT).await?;
                tracing::info!(enclave_id = %id, "terminated the Nitro enclave");
                Ok(())
            }
        }
    }
}

/// Runs a `nitro-cli` subcommand; its standard output if it succeeded.
async fn run_cli(
    line: &CommandLine,
    command: &'static str,
    timeout: Duration,
) -> Result<Vec<u8>, SupervisorError> {
    let mut cmd = line.command();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = match tokio::time::timeout(timeout, cmd.output()).await {
        Ok(out) => out.map_err(|source| SupervisorError::Spawn {
            program: line.program.clone(),
            source,
        })?,
        Err(_) => {
            return Err(SupervisorError::NitroCli {
                command,
                status: format!("no answer in {} ms", timeout.as_millis()),
                stderr: String::new(),
            });
        }
    };
    if !out.status.success() {
        let from = out.stderr.len().saturating_sub(STDERR_TAIL);
        return Err(SupervisorError::NitroCli {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(out.stderr.get(from..).unwrap_or_default())
                .trim()
                .to_string(),
        });
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(c: &CommandLine) -> Vec<&str> {
        c.args.iter().map(|a| a.to_str().expect("utf-8")).collect()
    }

    #[test]
    fn nitro_command_lines() {
        let cli = Path::new("/usr/bin/nitro-cli");
        let run = nitro_run_command(cli, Path::new("/opt/e.eif"), 2, 2048, Some(16), true);
        assert_eq!(run.program, cli);
        assert_eq!(
            args(&run),
            [
                "run-enclave",
                "--eif-path",
                "/opt/e.eif",
                "--cpu-count",
                "2",
                "--memory",
                "2048",
                "--enclave-cid",
                "16",
                "--debug-mode"
            ]
        );
        let plain = nitro_run_command(cli, Path::new("/opt/e.eif"), 4, 512, None, false);
        assert_eq!(
            args(&plain),
            [
                "run-enclave",
                "--eif-path",
                "/opt/e.eif",
                "--cpu-count",
                "4",
                "--memory",
                "512"
            ]
        );
        let id = "i-abc12345def67890a-enc9876abcd543210ef12";
        assert_eq!(
            args(&nitro_terminate_command(cli, id)),
            ["terminate-enclave", "--enclave-id", id]
        );
        assert_eq!(args(&nitro_describe_command(cli)), ["describe-enclaves"]);
    }

    #[test]
    fn mock_command_line_is_the_configured_one() {
        let c = mock_command(
            Path::new("/bin/cloister-enclave"),
            &["--listen".into(), "unix:/tmp/e.sock".into()],
        );
        assert_eq!(
            c.to_string(),
            "/bin/cloister-enclave --listen unix:/tmp/e.sock"
        );
    }

    /// The output documented for `nitro-cli run-enclave` and `describe-enclaves`
    /// (docs.aws.amazon.com/enclaves/latest/user/cmd-nitro-run-enclave.html and
    /// cmd-nitro-describe-enclaves.html), with the progress line run-enclave prints first.
    const RUN_OUTPUT: &str = r#"Start allocating memory...
Started enclave with enclave-cid: 16, memory: 1600 MiB, cpu-ids: [1, 3]
{
  "EnclaveName": "my_enclave",
  "EnclaveID": "i-abc12345def67890a-enc9876abcd543210ef12",
  "ProcessID": 12345,
  "EnclaveCID": 16,
  "NumberOfCPUs": 2,
  "CPUIDs": [1, 3],
  "MemoryMiB": 1600
}
"#;

    const DESCRIBE_OUTPUT: &str = r#"[
  {
    "EnclaveName": "my_enclave",
    "EnclaveID": "i-abc12345def67890a-enc9876abcd543210ef12",
    "ProcessID": 12345,
    "EnclaveCID": 16,
    "NumberOfCPUs": 2,
    "CPUIDs": [1, 3],
    "MemoryMiB": 1600,
    "State": "RUNNING",
    "Flags": "NONE"
  }
]"#;

    #[test]
    fn reads_nitro_cli_output() {
        let info = parse_run_output(RUN_OUTPUT.as_bytes()).expect("run output");
        assert_eq!(info.enclave_id, "i-abc12345def67890a-enc9876abcd543210ef12");
        assert_eq!(info.enclave_cid, 16);
        let id = &info.enclave_id;
        assert!(parse_describe_running(DESCRIBE_OUTPUT.as_bytes(), id).expect("describe"));
        assert!(!parse_describe_running(DESCRIBE_OUTPUT.as_bytes(), "i-other").expect("describe"));
        let terminating = DESCRIBE_OUTPUT.replace("RUNNING", "TERMINATING");
        assert!(!parse_describe_running(terminating.as_bytes(), id).expect("describe"));
        assert!(!parse_describe_running(b"[]", id).expect("none"));
        for bad in ["", "Start allocating memory...\n", "{\"EnclaveID\": 5}"] {
            assert!(parse_run_output(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(parse_describe_running(b"E11 error", id).is_err());
    }

    #[tokio::test]
    async fn a_failing_cli_reports_its_status_and_stderr() {
        // `sh` stands in for nitro-cli: the same runner, a known failure.
        let line = CommandLine::new(
            Path::new("/bin/sh"),
            ["-c", "echo 'E11: some failure' >&2; exit 3"],
        );
        let err = run_cli(&line, "run-enclave", Duration::from_secs(10))
            .await
            .expect_err("fails");
        assert_eq!(err.code(), "supervisor.nitro_cli");
        let msg = err.to_string();
        assert!(
            msg.contains("exit status: 3") && msg.contains("E11: some failure"),
            "{msg}"
        );
        let missing = CommandLine::new(Path::new("/nonexistent/nitro-cli"), ["describe-enclaves"]);
        let err = run_cli(&missing, "describe-enclaves", Duration::from_secs(10))
            .await
            .expect_err("missing");
        assert_eq!(err.code(), "supervisor.spawn");
    }
}
