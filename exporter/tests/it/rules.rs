//! The rules files pass `promtool check rules` and their unit tests
//! (`promtool test rules`); exporter/README.md's scrape config passes `promtool
//! check config`, and that README carries it verbatim.

use crate::support::{crate_dir, promtool};

fn ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `promtool check rules` and `promtool test rules` of one rules file
/// (`rules/NAME.rules.yml`) and its tests (`rules/NAME.rules.test.yml`).
fn check_and_test(name: &str) {
    let rules = crate_dir().join(format!("rules/{name}.rules.yml"));
    let tests = crate_dir().join(format!("rules/{name}.rules.test.yml"));
    let Some(out) = promtool(&["check", "rules", rules.to_str().expect("utf-8")], None) else {
        return;
    };
    ok(&out, "promtool check rules");
    let Some(out) = promtool(&["test", "rules", tests.to_str().expect("utf-8")], None) else {
        return;
    };
    ok(&out, "promtool test rules");
}

#[test]
fn rules_check_and_unit_tests() {
    check_and_test("grpc");
}

/// The xDS alerts (NACKed and missing resources, CSDS unreadable).
#[test]
fn xds_rules_check_and_unit_tests() {
    check_and_test("xds");
}

#[test]
fn scrape_config_checks_and_is_in_the_readme() {
    let dir = tempfile::tempdir().expect("dir");
    let config =
        std::fs::read_to_string(crate_dir().join("deploy/prometheus.yml")).expect("config");
    std::fs::write(dir.path().join("prometheus.yml"), &config).expect("write");
    for rules in ["grpc.rules.yml", "xds.rules.yml"] {
        std::fs::copy(
            crate_dir().join("rules").join(rules),
            dir.path().join(rules),
        )
        .expect("copy");
    }
    let path = dir.path().join("prometheus.yml");
    let Some(out) = promtool(&["check", "config", path.to_str().expect("utf-8")], None) else {
        return;
    };
    ok(&out, "promtool check config");
    let readme = std::fs::read_to_string(crate_dir().join("README.md")).expect("readme");
    let jobs = config.split("scrape_configs:").nth(1).expect("jobs");
    assert!(
        readme.contains(jobs.trim()),
        "exporter/README.md lacks the scrape config of exporter/deploy/prometheus.yml"
    );
}
