//! The config file through the real binary: `--config.check` exits 0 on a
//! blackbox_exporter file with every prober (other probers skipped with a
//! warning each) and 1 with the file, line and reason on each kind of
//! error; a bad file at start exits 1 the same way; bad flags exit 1
//! naming the flag.

use std::time::Duration;

use crate::support::crate_dir;

const LIMIT: Duration = Duration::from_secs(120);

/// The real binary: cargo builds it for this package's integration tests.
fn bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_grpc-exporter"))
}

async fn check(text: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("blackbox.yml");
    std::fs::write(&path, text).expect("write");
    let arg = format!("--config.file={}", path.display());
    testkit::bin::output(&bin(), &[&arg, "--config.check"], LIMIT).await
}

#[tokio::test]
async fn blackbox_file_with_every_prober_is_valid() {
    let text =
        std::fs::read_to_string(crate_dir().join("tests/it/blackbox-full.yml")).expect("fixture");
    let out = check(&text).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for prober in ["http", "tcp", "icmp", "dns", "unix", "websocket"] {
        assert!(
            stderr.contains(&format!("prober \\\"{prober}\\\""))
                || stderr.contains(&format!("prober \"{prober}\"")),
            "{prober}: {stderr}"
        );
    }
}

#[tokio::test]
async fn every_kind_of_error_names_file_line_and_reason() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "modules:\n  g:\n    prober: grpc\n    grpc:\n      servce: x\n",
            ":5",
            "unknown field `servce`",
        ),
        (
            "modules:\n  g:\n    prober: grpc\n    grpc:\n      tls: maybe\n",
            ":5",
            "invalid type",
        ),
        (
            "modules:\n  g:\n    prober: grpc\n    timeout: 5 parsecs\n",
            "blackbox.yml:",
            "invalid duration",
        ),
        (
            "modules:\n  g:\n    prober: grpc\n    grpc:\n      preferred_ip_protocol: ip5\n",
            "blackbox.yml:",
            "ip5",
        ),
        (
            "modules:\n  g:\n    prober: grpc\n    grpc:\n      tls_config:\n        min_version: TLS14\n",
            "blackbox.yml:",
            "TLS14",
        ),
        (
            "modules:\n  g:\n    prober: grpc\n    grpc:\n      tls_config:\n        ca: inline\n",
            ":6",
            "unknown field `ca`",
        ),
        (
            "modules:\n  g:\n    prober: grpc\n    grpc:\n      metadata:\n        grpc-timeout: [\"1\"]\n",
            "blackbox.yml:",
            "reserved",
        ),
        ("modules:\n  g:\n    grpc: {}\n", "blackbox.yml:", "prober"),
        ("modules: [\n", "blackbox.yml:", ""),
        ("modulez: {}\n", ":1", "unknown field `modulez`"),
        (
            "allowed_targets: [\"10.0.0.0/40\"]\n",
            "blackbox.yml",
            "prefix",
        ),
    ];
    for (text, where_, reason) in cases {
        let out = check(text).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}: {stderr}");
        assert!(
            stderr.contains(where_),
            "{text}: want {where_:?} in {stderr}"
        );
        assert!(
            stderr.contains(reason),
            "{text}: want {reason:?} in {stderr}"
        );
    }
    let out = testkit::bin::output(
        &bin(),
        &["--config.file=/nonexistent/blackbox.yml", "--config.check"],
        LIMIT,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/blackbox.yml"));
}

#[tokio::test]
async fn bad_file_or_flag_at_start_exits_1() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        "modules:\n  g:\n    prober: grpc\n    grpc:\n      nope: 1\n",
    )
    .expect("write");
    let arg = format!("--config.file={}", path.display());
    let out =
        testkit::bin::output(&bin(), &[&arg, "--web.listen-address=127.0.0.1:0"], LIMIT).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yml:5"), "{stderr}");
    let out = testkit::bin::output(&bin(), &["--web.systemd-socket"], LIMIT).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--web.systemd-socket is not supported"));
    let out = testkit::bin::output(&bin(), &["--log.format=xml"], LIMIT).await;
    assert_eq!(out.status.code(), Some(1));
}

/// Issue 18 item 4: a flag clap rejects is one line and exit 1, as the
/// flags our own rules reject are (clap's default is three lines and 2);
/// `--help` and `--version` still print and exit 0.
#[tokio::test]
async fn a_bad_flag_is_one_line_and_exit_1() {
    for (args, want) in [
        (&["--bogus"][..], "unexpected argument '--bogus'"),
        (&["--history.limit=many"][..], "--history.limit"),
        (&["--config.file"][..], "--config.file"),
        (&["stray"][..], "'stray'"),
    ] {
        let out = testkit::bin::output(&bin(), args, LIMIT).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("grpc-exporter: error: ") && stderr.contains(want),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    for flag in ["--help", "--version"] {
        let out = testkit::bin::output(&bin(), &[flag], LIMIT).await;
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("grpc-exporter"));
    }
}

#[tokio::test]
async fn sighup_reloads_and_keeps_the_old_config_on_error() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("blackbox.yml");
    std::fs::write(&path, "modules:\n  grpc:\n    prober: grpc\n").expect("write");
    let port = crate::support::free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut child = tokio::process::Command::new(bin())
        .arg(format!("--config.file={}", path.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("runs");
    let pid = child.id().expect("pid").to_string();
    let up = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(tokio::time::Instant::now() < up, "exporter did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hup = |pid: String| async move {
        let out = tokio::process::Command::new("kill")
            .args(["-HUP", &pid])
            .output()
            .await
            .expect("kill runs");
        assert!(out.status.success());
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    std::fs::write(
        &path,
        "modules:\n  grpc:\n    prober: grpc\n    grpc: {nope: 1}\n",
    )
    .expect("write");
    hup(pid.clone()).await;
    let m = crate::support::get(addr, "/metrics").await;
    assert_eq!(
        crate::support::value(&m.body, "grpc_exporter_config_last_reload_successful"),
        Some(0.0),
        "{}",
        m.body
    );
    assert_eq!(
        crate::support::get(addr, "/probe?module=grpc&target=127.0.0.1:1")
            .await
            .status,
        200
    );
    std::fs::write(&path, "modules:\n  other:\n    prober: grpc\n").expect("write");
    hup(pid).await;
    let m = crate::support::get(addr, "/metrics").await;
    assert_eq!(
        crate::support::value(&m.body, "grpc_exporter_config_last_reload_successful"),
        Some(1.0),
        "{}",
        m.body
    );
    assert_eq!(
        crate::support::get(addr, "/probe?module=other&target=127.0.0.1:1")
            .await
            .status,
        200
    );
    let _ = child.start_kill();
    let _ = child.wait().await;
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("blackbox.yml");
    std::fs::write(
        &path,
        "modules:\n  http_2xx:\n    prober: http\n  grpc:\n    prober: grpc\n",
    )
    .expect("write");
    let arg = format!("--config.file={}", path.display());
    let out = testkit::bin::output(
        &bin(),
        &[&arg, "--config.check", "--log.format=json"],
        LIMIT,
    )
    .await;
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["msg"].is_string() && v["time"].is_string(),
            "{line}"
        );
    }
}
