//! Real gRPC peers: a Python `grpcio` (C-core) server, a Node
//! `@grpc/grpc-js` server and a Go `grpc-go` server, each started per test
//! as a child process.
//!
//! In-process tonic servers cannot show that the tools work against the
//! implementations operators actually run, so these peers do: each serves
//! `grpc.health.v1` (statuses per service, changeable while running) and
//! `grpc.channelz.v1`, and keeps a little traffic going through client
//! channels to itself so Channelz has channels, subchannels and sockets with
//! non-zero counts.
//!
//! Each kind also has a health *client* ([`HealthClient`]), driven line by
//! line, so the shipped health service is tested against the clients
//! operators' load balancers and probes use, not only against our own.
//!
//! The peers are installed by `tests/peers/setup.sh` under `target/peers/`
//! (or `$GRPC_TOOLKIT_PEERS_DIR`) on first use; the script is idempotent and
//! serialises concurrent runs with a lock file. A peer never outlives its
//! test: the child is killed when the [`Peer`] drops, and the peer itself
//! exits as soon as its stdin closes, which also covers a test process that
//! dies without running destructors.
//!
//! Policy: with `CI=true` a peer that cannot start fails the test; elsewhere
//! [`start_or_skip`] prints a loud notice and the test skips, so a laptop
//! without Go or Node still runs everything else.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::OnceCell;

/// How long a peer may take to print its address: the first start of a
/// Python or Node interpreter on a cold, busy 2-core machine is slow.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a peer may take to answer one stdin command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the one-time installation may take (pip, npm and a Go build).
const SETUP_TIMEOUT: Duration = Duration::from_secs(900);

/// Which gRPC implementation a peer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerKind {
    /// Python `grpcio` 1.85 (the C-core), `grpcio-health-checking` and
    /// `grpcio-channelz`.
    Python,
    /// Node `@grpc/grpc-js` 1.14 with its built-in Channelz and a health
    /// service loaded from this repository's `health.proto`; its xDS peer
    /// adds `@grpc/grpc-js-xds` 1.14.1 ([`Peer::start_xds_of`]).
    Node,
    /// `grpc-go` from Debian's `golang-google-grpc-dev`, built offline.
    Go,
}

impl PeerKind {
    /// All three kinds, for tests that run against every peer.
    pub const ALL: [PeerKind; 3] = [PeerKind::Python, PeerKind::Node, PeerKind::Go];

    /// The lower-case name `setup.sh` takes.
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Python => "python",
            PeerKind::Node => "node",
            PeerKind::Go => "go",
        }
    }
}

impl fmt::Display for PeerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to start a peer. `PeerOptions::default()` is a plain TCP peer on
/// `127.0.0.1` with one client channel to itself.
#[derive(Debug, Clone, Default)]
pub struct PeerOptions {
    /// Extra client channels the peer opens to itself (each makes one call),
    /// so Channelz lists more entities than fit on one page (grpc-go pages
    /// 50 channels at a time).
    pub channels: usize,
    /// PEM certificate and key files: the peer serves TLS with them. Its own
    /// client channels trust this certificate as `localhost`, so it should
    /// name `localhost`.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Listen on this unix socket path instead of TCP.
    pub unix: Option<PathBuf>,
}

/// Why a peer could not be started or driven.
#[derive(Debug)]
pub struct PeerError {
    kind: PeerKind,
    reason: String,
}

impl PeerError {
    fn new(kind: PeerKind, reason: impl Into<String>) -> Self {
        PeerError {
            kind,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} peer: {}", self.kind, self.reason)
    }
}

impl std::error::Error for PeerError {}

/// A running peer; stopped when dropped.
#[derive(Debug)]
pub struct Peer {
    kind: PeerKind,
    addr: String,
    port: Option<u16>,
    // Two ways out, so no peer outlives its test: dropping `_child` kills
    // the process (kill_on_drop), and if the test process dies before any
    // Drop runs, the kernel closes the pipe behind `stdin` and the peer
    // exits on end of input.
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    _child: Child,
}

impl Peer {
    /// Installs the peer if needed (once per process and kind), starts it,
    /// and waits until it prints its address.
    pub async fn start(kind: PeerKind, options: PeerOptions) -> Result<Peer, PeerError> {
        install(kind).await?;
        let mut command = program(kind, "python/peer.py", "node/peer.js", "grpc-peer-go");
        command.arg("--channels").arg(options.channels.to_string());
        if let Some((cert, key)) = &options.tls {
            command
                .arg("--tls-cert")
                .arg(cert)
                .arg("--tls-key")
                .arg(key);
        }
        if let Some(path) = &options.unix {
            command.arg("--unix").arg(path);
        }
        Peer::spawn(kind, command).await
    }

    /// Starts the xDS peer (`python/xds_peer.py`): a grpcio xDS client fed
    /// by a small ADS management server in the same process, with CSDS and
    /// Channelz on the admin port that [`Peer::addr`] names. Its channels
    /// `xds:///svc` and `xds:///gone` start fully ACKED; steer it with
    /// [`Peer::command`] (`nack`, `restore`, `delete`, `pending`, see the
    /// script's doc).
    pub async fn start_xds() -> Result<Peer, PeerError> {
        Peer::start_xds_of(PeerKind::Python).await
    }

    /// Starts the xDS peer of `kind`: [`PeerKind::Python`] is grpcio's
    /// ([`Peer::start_xds`]); [`PeerKind::Node`] is `@grpc/grpc-js-xds`
    /// (`node/xds_peer.js`), fed by the same management server (it runs
    /// `python/xds_peer.py --management` as its child), with the same
    /// start state and commands and CSDS plus Channelz on the admin port.
    /// What the two report differs where the libraries do (grpc-js keeps
    /// one xDS client with an empty `client_scope`; see
    /// `tests/tests/it/xds_grpc_js.rs`). There is no grpc-go xDS peer:
    /// Debian's grpc-go has no xDS resolver to build offline.
    pub async fn start_xds_of(kind: PeerKind) -> Result<Peer, PeerError> {
        // Both need the venv: the management server is Python's.
        install(PeerKind::Python).await?;
        let command = match kind {
            PeerKind::Python => {
                let mut command = Command::new(venv_python());
                command.arg(source_dir().join("python/xds_peer.py"));
                command
            }
            PeerKind::Node => {
                install(kind).await?;
                let mut command = program(kind, "", "node/xds_peer.js", "");
                command
                    .arg("--python")
                    .arg(venv_python())
                    .arg("--management-script")
                    .arg(source_dir().join("python/xds_peer.py"));
                command
            }
            PeerKind::Go => return Err(PeerError::new(kind, "there is no grpc-go xDS peer")),
        };
        Peer::spawn(kind, command).await
    }

    async fn spawn(kind: PeerKind, mut command: Command) -> Result<Peer, PeerError> {
        // The peers log to stderr (grpc-go's startup notes, C-core warnings);
        // it is kept aside and shown only when the peer fails to start.
        let stderr_file = tempfile::tempfile()
            .map_err(|e| PeerError::new(kind, format!("cannot create a file for stderr: {e}")))?;
        let stderr_copy = stderr_file
            .try_clone()
            .map_err(|e| PeerError::new(kind, format!("cannot create a file for stderr: {e}")))?;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr_file))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| PeerError::new(kind, format!("cannot run {command:?}: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(PeerError::new(kind, "stdin or stdout was not piped"));
        };
        let mut stdout = BufReader::new(stdout).lines();

        let first = tokio::time::timeout(START_TIMEOUT, stdout.next_line()).await;
        let first = match first {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) | Ok(Err(_)) | Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                let why = match first {
                    Err(_) => format!("printed no address within {START_TIMEOUT:?}"),
                    _ => "exited before printing its address".to_owned(),
                };
                let stderr = read_tail(stderr_copy).await;
                return Err(PeerError::new(kind, format!("{why}; stderr: {stderr}")));
            }
        };
        let (addr, port) = parse_address_line(&first)
            .ok_or_else(|| PeerError::new(kind, format!("unexpected first line {first:?}")))?;
        Ok(Peer {
            kind,
            addr,
            port,
            stdin,
            stdout,
            _child: child,
        })
    }

    /// Which implementation this is.
    pub fn kind(&self) -> PeerKind {
        self.kind
    }

    /// The address in the form the tools' `-addr` takes: `127.0.0.1:PORT`,
    /// or `unix:/path` for a unix socket peer.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// The TCP port, `None` for a unix socket peer.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Sets the health status of `service` (`""` is the server as a whole)
    /// and waits until the peer has applied it.
    pub async fn set_status(
        &mut self,
        service: &str,
        status: ServingStatus,
    ) -> Result<(), PeerError> {
        // One command per line, words split on whitespace, `""` for the
        // empty name: names that would not survive that are refused here.
        if service.contains(char::is_whitespace) || service == "\"\"" {
            return Err(PeerError::new(
                self.kind,
                format!("service name {service:?} cannot be sent to a peer"),
            ));
        }
        let name = if service.is_empty() { "\"\"" } else { service };
        let answer = self
            .command(&format!("set {name} {}", status.as_str_name()))
            .await?;
        if answer == "ok" {
            Ok(())
        } else {
            Err(PeerError::new(
                self.kind,
                format!("refused setting {name}: {answer}"),
            ))
        }
    }

    /// Sends one stdin command line and returns the peer's one-line answer
    /// (an `error: ...` answer is an `Err`).
    pub async fn command(&mut self, command: &str) -> Result<String, PeerError> {
        let line = format!("{command}\n");
        let kind = self.kind;
        let exchange = async {
            self.stdin.write_all(line.as_bytes()).await?;
            self.stdin.flush().await?;
            self.stdout.next_line().await
        };
        match tokio::time::timeout(COMMAND_TIMEOUT, exchange).await {
            Ok(Ok(Some(answer))) if !answer.starts_with("error") => Ok(answer),
            Ok(Ok(Some(answer))) => Err(PeerError::new(
                kind,
                format!("refused {:?}: {answer}", line.trim()),
            )),
            Ok(Ok(None)) => Err(PeerError::new(kind, "exited during a command")),
            Ok(Err(e)) => Err(PeerError::new(
                kind,
                format!("cannot talk to the peer: {e}"),
            )),
            Err(_) => Err(PeerError::new(
                kind,
                format!("did not answer within {COMMAND_TIMEOUT:?}"),
            )),
        }
    }
}

/// A real health *client* (grpcio-health-checking's stubs, grpc-js with our
/// `health.proto`, or grpc-go's stubs plus a raw `Invoke` for List), driven
/// line by line: `python/health_client.py`, `node/health_client.js`,
/// `go/healthclient`. Each command's answer and each Watch message is one
/// stdout line; lines not yet asked for wait in order in `pending`, so a
/// Watch's messages are read back in the order they came. Stopped when
/// dropped, like [`Peer`].
#[derive(Debug)]
pub struct HealthClient {
    kind: PeerKind,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    pending: std::collections::VecDeque<String>,
    _child: Child,
}

impl HealthClient {
    /// Installs the peer kind if needed and starts its health client
    /// against `addr` (`HOST:PORT`), waiting for its `READY` line.
    pub async fn start(kind: PeerKind, addr: &str) -> Result<HealthClient, PeerError> {
        install(kind).await?;
        let mut command = program(
            kind,
            "python/health_client.py",
            "node/health_client.js",
            "grpc-health-client-go",
        );
        let mut child = command
            .arg(addr)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| PeerError::new(kind, format!("cannot run {command:?}: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(PeerError::new(kind, "stdin or stdout was not piped"));
        };
        let mut client = HealthClient {
            kind,
            stdin,
            stdout: BufReader::new(stdout).lines(),
            pending: Default::default(),
            _child: child,
        };
        match tokio::time::timeout(START_TIMEOUT, client.stdout.next_line()).await {
            Ok(Ok(Some(line))) if line == "READY" => Ok(client),
            other => Err(PeerError::new(
                kind,
                format!("health client did not start: {other:?}"),
            )),
        }
    }

    /// Which implementation this is.
    pub fn kind(&self) -> PeerKind {
        self.kind
    }

    /// Sends one command line (`check S`, `list`, `watch S`).
    pub async fn send(&mut self, command: &str) -> Result<(), PeerError> {
        let line = format!("{command}\n");
        let written = async {
            self.stdin.write_all(line.as_bytes()).await?;
            self.stdin.flush().await
        };
        written
            .await
            .map_err(|e| PeerError::new(self.kind, format!("cannot send {command:?}: {e}")))
    }

    /// The first line (in arrival order) that starts with `prefix`, without
    /// the prefix; waits up to `COMMAND_TIMEOUT` (10 s) for it.
    pub async fn next_with(&mut self, prefix: &str) -> Result<String, PeerError> {
        if let Some(at) = self.pending.iter().position(|l| l.starts_with(prefix)) {
            let line = self.pending.remove(at).unwrap_or_default();
            return Ok(line[prefix.len()..].to_owned());
        }
        let deadline = tokio::time::Instant::now() + COMMAND_TIMEOUT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.stdout.next_line()).await;
            match line {
                Ok(Ok(Some(line))) if line.starts_with(prefix) => {
                    return Ok(line[prefix.len()..].to_owned());
                }
                Ok(Ok(Some(line))) => self.pending.push_back(line),
                Ok(Ok(None)) => return Err(PeerError::new(self.kind, "health client exited")),
                Ok(Err(e)) => return Err(PeerError::new(self.kind, format!("read: {e}"))),
                Err(_) => {
                    return Err(PeerError::new(
                        self.kind,
                        format!(
                            "no line starting {prefix:?} within {COMMAND_TIMEOUT:?}; unread: {:?}",
                            self.pending
                        ),
                    ));
                }
            }
        }
    }

    /// Whether a line starting with `prefix` arrives within `wait`.
    pub async fn has_with(&mut self, prefix: &str, wait: Duration) -> bool {
        if self.pending.iter().any(|l| l.starts_with(prefix)) {
            return true;
        }
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout_at(deadline, self.stdout.next_line()).await
        {
            let found = line.starts_with(prefix);
            self.pending.push_back(line);
            if found {
                return true;
            }
        }
        false
    }

    /// `Check(service)`: the status name, or `error CODE`.
    pub async fn check(&mut self, service: &str) -> Result<String, PeerError> {
        let name = shown(service);
        self.send(&format!("check {name}")).await?;
        self.next_with(&format!("check {name} ")).await
    }

    /// `List`: `ok N NAME=STATUS...` (sorted, `""` for the empty name) or
    /// `error CODE`.
    pub async fn list(&mut self) -> Result<String, PeerError> {
        self.send("list").await?;
        self.next_with("list ").await
    }

    /// Opens a Watch on `service`; read its messages with
    /// [`HealthClient::next_watch`].
    pub async fn watch(&mut self, service: &str) -> Result<(), PeerError> {
        self.send(&format!("watch {}", shown(service))).await
    }

    /// The next message of the Watch on `service`: a status name, or
    /// `end CODE` when the stream ended.
    pub async fn next_watch(&mut self, service: &str) -> Result<String, PeerError> {
        self.next_with(&format!("watch {} ", shown(service))).await
    }
}

/// A service name as the health clients' lines spell it.
fn shown(service: &str) -> &str {
    if service.is_empty() { "\"\"" } else { service }
}

/// Starts a peer, applying the policy of [`or_skip`] when it cannot start.
///
/// ```no_run
/// # async fn example() {
/// use testkit::peers::{start_or_skip, PeerKind, PeerOptions};
/// let Some(peer) = start_or_skip(PeerKind::Go, PeerOptions::default()).await else {
///     return;
/// };
/// println!("{}", peer.addr());
/// # }
/// ```
pub async fn start_or_skip(kind: PeerKind, options: PeerOptions) -> Option<Peer> {
    or_skip(Peer::start(kind, options).await)
}

/// The policy for a peer (or the peers' Python) that is not available: with
/// `CI=true` it panics with the reason, since a missing peer in CI is a
/// failure and never a silent skip; elsewhere it records the skip
/// ([`record_skip`]: a loud notice and a line in [`skip_log`]) and returns
/// `None`, and the test returns early.
pub fn or_skip<T>(result: Result<T, PeerError>) -> Option<T> {
    skip_policy(result, in_ci(), &skip_log())
}

/// [`or_skip`] with the CI flag and the log given, so it can be tested
/// without touching the process environment.
fn skip_policy<T>(result: Result<T, PeerError>, ci: bool, log: &Path) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) if ci => panic!("{error} (CI=true: real peers are required)"),
        Err(error) => {
            record_skip_to(log, &error.to_string());
            None
        }
    }
}

/// Where every skipped test appends a line: `$GRPC_TOOLKIT_SKIP_LOG`, else
/// `target/peer-skips.txt` in the workspace. `.ci/run` empties it before
/// the tests, prints the count after them, and fails on any with `CI=true`:
/// a notice on stderr scrolls by unseen in a long run, a count does not.
pub fn skip_log() -> PathBuf {
    std::env::var_os("GRPC_TOOLKIT_SKIP_LOG")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peer-skips.txt"))
}

/// Records a test that skips because something it needs (a peer, a
/// program, an address) is missing: a loud notice on stderr and one line
/// in [`skip_log`], naming the test (libtest names its thread after it).
pub fn record_skip(reason: &str) {
    record_skip_to(&skip_log(), reason);
}

/// The longest reason kept in the log, in characters: a peer's error can
/// carry its whole stderr tail.
const SKIP_REASON_MAX: usize = 300;

fn record_skip_to(log: &Path, reason: &str) {
    eprintln!(
        "\n!!!!! SKIPPED: {reason}\n!!!!! run tests/peers/setup.sh to install the real peers; \
         with CI=true this is a failure\n"
    );
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    // One line per skip, whatever the reason holds: escaped (a peer's
    // stderr may carry newlines and terminal escapes) and cut.
    let reason: String = reason.chars().take(SKIP_REASON_MAX).collect();
    let line = format!("{}: {}\n", test.escape_debug(), reason.escape_debug());
    if let Some(parent) = log.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    // O_APPEND and one write per line: tests skipping on parallel threads
    // (or in parallel test binaries) do not interleave their lines.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .and_then(|mut file| std::io::Write::write_all(&mut file, line.as_bytes()));
    if let Err(error) = written {
        eprintln!(
            "!!!!! could not record the skip in {}: {error}",
            log.display()
        );
    }
}

/// Whether the CI policy (missing peers fail) is on.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value.eq_ignore_ascii_case("true") || value == "1")
}

/// Where the peer sources (`tests/peers/`) live.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// Where the installed peers live: `$GRPC_TOOLKIT_PEERS_DIR`, or
/// `target/peers/` at the workspace root. Fixed rather than under
/// `CARGO_TARGET_DIR`, so that every build directory shares one install.
pub fn peers_dir() -> PathBuf {
    match std::env::var_os("GRPC_TOOLKIT_PEERS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("target/peers"),
    }
}

fn workspace_root() -> PathBuf {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests.parent().unwrap_or(tests).to_path_buf()
}

/// The path of the venv's Python, for tests that run Python helpers (such
/// as the descriptor dump of `proto_compat.rs`). Installs it if needed.
pub async fn python() -> Result<PathBuf, PeerError> {
    install(PeerKind::Python).await?;
    Ok(venv_python())
}

fn venv_python() -> PathBuf {
    peers_dir().join("venv/bin/python")
}

/// A command that runs `kind`'s Channelz reader, installing that peer kind
/// first: `python/channelz_client.py` (grpcio's Channelz stubs),
/// `node/channelz_client.js` (grpc-js with stubs from our `channelz.proto`)
/// or the Go one (`go/channelzclient`, grpc-go's generated stubs, built by
/// `setup.sh go` next to the Go peer). Append the reader's arguments
/// (`[--page-size N] [--walk-only] [--unknown-id ID] HOST:PORT`); each
/// prints the same proto3 JSON document, and only the Python one takes
/// `--ca`/`--cert`/`--key`.
pub async fn channelz_reader(kind: PeerKind) -> Result<Command, PeerError> {
    install(kind).await?;
    Ok(program(
        kind,
        "python/channelz_client.py",
        "node/channelz_client.js",
        "grpc-channelz-client-go",
    ))
}

/// The command that runs one of the installed peer programs, by kind: a
/// script under `tests/peers/` run by the venv's Python, or by Node with
/// the installed packages, or a binary that `setup.sh go` built into
/// `go/bin/`.
fn program(kind: PeerKind, python_script: &str, node_script: &str, go_binary: &str) -> Command {
    match kind {
        PeerKind::Python => {
            let mut command = Command::new(venv_python());
            command.arg(source_dir().join(python_script));
            command
        }
        PeerKind::Node => {
            let mut command = Command::new("node");
            command
                .arg(source_dir().join(node_script))
                .env("NODE_PATH", peers_dir().join("node/node_modules"));
            command
        }
        PeerKind::Go => Command::new(peers_dir().join("go/bin").join(go_binary)),
    }
}

/// Installs one kind of peer (runs `setup.sh KIND`) once per process; the
/// script itself is idempotent and holds a lock, so concurrent test
/// binaries are safe. [`Peer::start`] calls it; call it directly to tell
/// "not installed" apart from "installed but failed to start".
pub async fn install(kind: PeerKind) -> Result<(), PeerError> {
    static PYTHON: OnceCell<Result<(), String>> = OnceCell::const_new();
    static NODE: OnceCell<Result<(), String>> = OnceCell::const_new();
    static GO: OnceCell<Result<(), String>> = OnceCell::const_new();
    let cell = match kind {
        PeerKind::Python => &PYTHON,
        PeerKind::Node => &NODE,
        PeerKind::Go => &GO,
    };
    cell.get_or_init(|| run_setup(kind))
        .await
        .clone()
        .map_err(|reason| PeerError::new(kind, reason))
}

async fn run_setup(kind: PeerKind) -> Result<(), String> {
    let script = source_dir().join("setup.sh");
    let run = Command::new("bash")
        .arg(&script)
        .arg(kind.name())
        .env("GRPC_TOOLKIT_PEERS_DIR", peers_dir())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(SETUP_TIMEOUT, run).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(format!("cannot run {}: {e}", script.display())),
        Err(_) => {
            return Err(format!(
                "{} took longer than {SETUP_TIMEOUT:?}",
                script.display()
            ));
        }
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("no output");
    Err(format!("setup failed ({}): {last}", output.status))
}

/// `PORT 123` → `127.0.0.1:123`; `UNIX /p` → `unix:/p`.
fn parse_address_line(line: &str) -> Option<(String, Option<u16>)> {
    match line.trim().split_once(' ')? {
        ("PORT", port) => {
            let port: u16 = port.parse().ok()?;
            Some((format!("127.0.0.1:{port}"), Some(port)))
        }
        ("UNIX", path) => Some((format!("unix:{path}"), None)),
        _ => None,
    }
}

/// The last lines of a peer's stderr, on one line, for an error message.
async fn read_tail(file: std::fs::File) -> String {
    use std::io::Seek;
    let mut file = file;
    if file.rewind().is_err() {
        return "unreadable".to_owned();
    }
    let mut text = String::new();
    if tokio::fs::File::from_std(file)
        .read_to_string(&mut text)
        .await
        .is_err()
    {
        return "unreadable".to_owned();
    }
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    if tail.is_empty() {
        "empty".to_owned()
    } else {
        tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_lines_parse() {
        assert_eq!(
            parse_address_line("PORT 4242"),
            Some(("127.0.0.1:4242".to_owned(), Some(4242)))
        );
        assert_eq!(
            parse_address_line("UNIX /tmp/s.sock"),
            Some(("unix:/tmp/s.sock".to_owned(), None))
        );
        assert_eq!(parse_address_line("PORT x"), None);
        assert_eq!(parse_address_line("PORT 70000"), None);
        assert_eq!(parse_address_line("hello"), None);
    }

    fn missing() -> PeerError {
        PeerError::new(PeerKind::Node, "node: not found\n\u{1b}[31mred")
    }

    #[test]
    fn a_skip_outside_ci_appends_one_escaped_line_to_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("sub/peer-skips.txt");
        assert!(skip_policy::<()>(Err(missing()), false, &log).is_none());
        assert!(skip_policy::<()>(Err(missing()), false, &log).is_none());
        assert_eq!(skip_policy(Ok(7), false, &log), Some(7));
        let text = std::fs::read_to_string(&log).expect("the log was written");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text:?}");
        assert!(lines[0].contains("a_skip_outside_ci_appends"), "{text:?}");
        assert!(lines[0].contains("node: not found"), "{text:?}");
        // The peer's text is escaped: no raw newline or escape byte.
        assert!(!text.contains('\u{1b}'), "{text:?}");
    }

    #[test]
    fn a_long_reason_is_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("peer-skips.txt");
        record_skip_to(&log, &"x".repeat(10_000));
        let text = std::fs::read_to_string(&log).expect("the log was written");
        assert!(text.len() < SKIP_REASON_MAX + 200, "{}", text.len());
    }

    #[test]
    #[should_panic(expected = "CI=true: real peers are required")]
    fn a_skip_in_ci_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        skip_policy::<()>(Err(missing()), true, &dir.path().join("log"));
    }
}
