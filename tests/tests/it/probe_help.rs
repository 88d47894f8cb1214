//! What users read before anything connects: the `-help` text and the
//! one-line usage errors, as insta snapshots (`snapshots/` beside this file), so a
//! change to a flag or its wording shows up in review as a diff. Runs the
//! binary's whole life in-process (`run_cli`); none of these reach the
//! network.

use grpc_probe::exit::Status;

/// `grpc-probe ARGS…` in-process: (status, stdout, stderr).
fn run(args: &[&str]) -> (Status, String, String) {
    let argv = std::iter::once("grpc-probe").chain(args.iter().copied());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = grpc_probe::run_cli(argv, &mut out, &mut err);
    (
        status,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

#[test]
fn help_text() {
    let (status, stdout, stderr) = run(&["-help"]);
    assert_eq!(status, Status::Serving, "-help exits 0");
    assert_eq!(stderr, "", "-help prints only on stdout");
    insta::assert_snapshot!(stdout);
}

#[test]
fn usage_errors_are_one_line() {
    let cases: [&[&str]; 3] = [
        &["-addr=localhost:50051", "-no-such-flag"],
        &[],
        &["-addr=localhost:50051", "-connect-timeout=5parsecs"],
    ];
    // A transcript: each command line, then what it printed on stderr.
    let mut transcript = String::new();
    for args in cases {
        let (status, stdout, stderr) = run(args);
        assert_eq!(status, Status::Usage, "{args:?} exits 1");
        assert_eq!(stdout, "", "{args:?}: usage errors print nothing on stdout");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: one line on stderr, got {stderr:?}"
        );
        let command = std::iter::once("$ grpc-probe").chain(args.iter().copied());
        transcript.push_str(&format!(
            "{}\n{stderr}",
            command.collect::<Vec<_>>().join(" ")
        ));
    }
    insta::assert_snapshot!(transcript);
}
