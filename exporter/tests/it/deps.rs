//! The exporter's binary links neither the TUI stack nor the probe, and
//! the probe's binary never links the exporter (`cargo tree`, normal
//! dependencies only).

fn tree(package: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-q",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .current_dir(crate::support::crate_dir())
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn exporter_and_probe_stay_apart() {
    let exporter = tree("grpc-exporter");
    for forbidden in ["ratatui ", "crossterm ", "grpc-probe ", "channelz-tui "] {
        assert!(
            !exporter.contains(forbidden),
            "grpc-exporter depends on {forbidden}:\n{exporter}"
        );
    }
    let probe = tree("grpc-probe");
    assert!(
        !probe.contains("grpc-exporter "),
        "grpc-probe depends on the exporter"
    );
    assert!(
        !probe.contains("prometheus-client "),
        "grpc-probe links prometheus-client"
    );
}
