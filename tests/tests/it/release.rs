//! The release's images equal the Dockerfile's: `release/oci.py` writes the
//! OCI layouts without a container engine, the Dockerfile is how a user
//! with Docker builds the same images, and nothing else keeps the two in
//! step. Each test parses what the Dockerfile declares for an image (the
//! user, the entrypoint, the exposed ports, and the root its build stage
//! lays out: the binary, the drop-in symlinks, the CA bundle, any config
//! file) and compares it with what `oci.py` declares and writes.
//!
//! With `GRPC_TOOLKIT_OCI_DIR` set (release/check.sh and `.ci/run` set it
//! to the layouts they built), the written layouts are read too: every
//! platform's config blob and layer listing. `.ci/run` writes only the
//! probe's layout; release/check.sh writes both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// What the Dockerfile says one image is.
#[derive(Debug, Default, PartialEq)]
struct Declared {
    user: String,
    entrypoint: Vec<String>,
    ports: Vec<String>,
    binary: String,
    /// Symlink path -> target.
    links: BTreeMap<String, String>,
    ca_bundle: String,
    /// Path -> content, for files the build stage writes with printf.
    files: BTreeMap<String, String>,
}

/// The Dockerfile's stages, as (the `FROM` line, the instructions with
/// their continuation lines joined).
fn stages(text: &str) -> Vec<(String, Vec<String>)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                if !current.trim().is_empty() {
                    joined.push(current.trim().to_owned());
                }
                current.clear();
            }
        }
    }
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for instruction in joined {
        if instruction.starts_with("FROM ") {
            out.push((instruction, Vec::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push(instruction);
        }
    }
    out
}

/// The image whose final stage is `from` (`FROM scratch` or `FROM scratch
/// AS exporter`), with the root its `COPY --from=STAGE /DIR/ /` brings in.
fn declared(from: &str) -> Declared {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let stages = stages(&text);
    let (_, body) = stages
        .iter()
        .find(|(line, _)| line == from)
        .unwrap_or_else(|| panic!("no `{from}` stage in the Dockerfile"));
    let mut image = Declared::default();
    let mut copied = None;
    for instruction in body {
        let (word, rest) = instruction.split_once(' ').unwrap();
        match word {
            "USER" => image.user = rest.to_owned(),
            "ENTRYPOINT" => image.entrypoint = serde_json::from_str(rest).unwrap(),
            "EXPOSE" => image.ports.push(format!("{rest}/tcp")),
            "COPY" => {
                let words: Vec<&str> = rest.split_whitespace().collect();
                assert_eq!(words.len(), 3, "COPY --from=STAGE /DIR/ /: {instruction}");
                assert_eq!(words[2], "/", "the stage's root is copied to /");
                let stage = words[0].strip_prefix("--from=").unwrap().to_owned();
                copied = Some((stage, words[1].trim_end_matches('/').to_owned()));
            }
            _ => {}
        }
    }
    let (stage, dir) = copied.expect("the image copies a root from a build stage");
    let (_, build) = stages
        .iter()
        .find(|(line, _)| line.ends_with(&format!(" AS {stage}")))
        .unwrap_or_else(|| panic!("no build stage {stage}"));
    let in_root = |path: &str| path.strip_prefix(&dir).map(str::to_owned);
    for instruction in build.iter().filter(|i| i.starts_with("RUN ")) {
        for command in instruction[4..].split("&&").map(str::trim) {
            let words: Vec<&str> = command.split_whitespace().collect();
            match words.as_slice() {
                ["ln", "-s", target, path] => {
                    if let Some(path) = in_root(path) {
                        image.links.insert(path, (*target).to_owned());
                    }
                }
                ["install", "-D", .., path] => {
                    if let Some(path) = in_root(path) {
                        image.binary = path;
                    }
                }
                ["cp", "/etc/ssl/certs/ca-certificates.crt", path] => {
                    if let Some(path) = in_root(path) {
                        image.ca_bundle = path;
                    }
                }
                ["printf", ..] => {
                    let (format, path) = command
                        .strip_prefix("printf '")
                        .and_then(|c| c.split_once("' > "))
                        .unwrap_or_else(|| panic!("printf 'TEXT' > PATH: {command}"));
                    if let Some(path) = in_root(path.trim()) {
                        image.files.insert(path, format.replace("\\n", "\n"));
                    }
                }
                _ => {}
            }
        }
    }
    image
}

/// What release/oci.py says the image is (`oci.py spec NAME`).
fn written(name: &str) -> Declared {
    let out = Command::new("python3")
        .arg(repo().join("release/oci.py"))
        .args(["spec", name])
        .output()
        .expect("python3 runs release/oci.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spec: Value = serde_json::from_slice(&out.stdout).unwrap();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let binary = spec["binary"].as_str().unwrap().to_owned();
    Declared {
        user: spec["user"].as_str().unwrap().to_owned(),
        entrypoint: strings(&spec["entrypoint"]),
        ports: strings(&spec["ports"]),
        links: strings(&spec["links"])
            .into_iter()
            .map(|l| (l, binary.clone()))
            .collect(),
        binary,
        ca_bundle: spec["ca_bundle"].as_str().unwrap().to_owned(),
        files: spec["files"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect(),
    }
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A written layout (under `GRPC_TOOLKIT_OCI_DIR`) holds, for amd64 and
/// arm64, a config and a root equal to the Dockerfile's.
fn check_layout(name: &str, want: &Declared) {
    let Some(dir) = std::env::var_os("GRPC_TOOLKIT_OCI_DIR") else {
        eprintln!("GRPC_TOOLKIT_OCI_DIR is not set: the written {name} layout is not read");
        return;
    };
    let layout = Path::new(&dir).join(name);
    // CI writes only the probe's layout (the exporter's needs two more LTO
    // builds); release/check.sh writes both. An empty directory is a
    // mistake, not a skip.
    if !layout.exists() {
        let any = std::fs::read_dir(&dir).map(|mut d| d.next().is_some());
        assert!(
            matches!(any, Ok(true)),
            "GRPC_TOOLKIT_OCI_DIR={} holds no layout",
            Path::new(&dir).display()
        );
        eprintln!("no {name} layout in {}", Path::new(&dir).display());
        return;
    }
    let top = json(&layout.join("index.json"));
    let index = json(&blob(
        &layout,
        top["manifests"][0]["digest"].as_str().unwrap(),
    ));
    let mut platforms = Vec::new();
    for entry in index["manifests"].as_array().unwrap() {
        let arch = entry["platform"]["architecture"].as_str().unwrap();
        platforms.push(arch.to_owned());
        let manifest = json(&blob(&layout, entry["digest"].as_str().unwrap()));
        let config = json(&blob(
            &layout,
            manifest["config"]["digest"].as_str().unwrap(),
        ));
        assert_eq!(config["architecture"], arch);
        assert_eq!(config["os"], "linux");
        let body = &config["config"];
        assert_eq!(body["User"], want.user.as_str(), "{name}/{arch} User");
        assert_eq!(
            body["Entrypoint"],
            serde_json::json!(want.entrypoint),
            "{name}/{arch} Entrypoint"
        );
        let ports: Vec<String> = body["ExposedPorts"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(ports, want.ports, "{name}/{arch} ExposedPorts");

        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 1, "{name}/{arch}: one layer");
        let listing = Command::new("tar")
            .arg("-tvzf")
            .arg(blob(&layout, layers[0]["digest"].as_str().unwrap()))
            .output()
            .unwrap();
        assert!(listing.status.success());
        let listing = String::from_utf8(listing.stdout).unwrap();
        let entry = |path: &str| {
            listing
                .lines()
                .find(|l| l.split_whitespace().nth(5) == Some(path.trim_start_matches('/')))
                .unwrap_or_else(|| panic!("{name}/{arch}: no {path} in the layer:\n{listing}"))
                .to_owned()
        };
        assert!(entry(&want.binary).starts_with("-rwxr-xr-x"));
        assert!(entry(&want.ca_bundle).starts_with("-rw-r--r--"));
        for (link, target) in &want.links {
            let line = entry(link);
            assert!(
                line.starts_with('l') && line.ends_with(&format!(" -> {target}")),
                "{name}/{arch}: {line}"
            );
        }
        for path in want.files.keys() {
            entry(path);
        }
    }
    platforms.sort();
    assert_eq!(platforms, ["amd64", "arm64"], "{name}: the platforms");
}

#[test]
fn probe_image_equals_the_dockerfile() {
    let want = declared("FROM scratch");
    // The parse itself is checked against the facts the issue names, so a
    // Dockerfile reshaped past this parser fails here, not silently.
    assert_eq!(want.user, "65534:65534");
    assert_eq!(want.entrypoint, ["/grpc-probe"]);
    assert_eq!(want.binary, "/grpc-probe");
    assert_eq!(
        want.links.keys().collect::<Vec<_>>(),
        ["/bin/grpc_health_probe", "/ko-app/grpc-health-probe"]
    );
    assert_eq!(want.ca_bundle, "/etc/ssl/certs/ca-certificates.crt");
    assert_eq!(written("grpc-probe"), want);
    check_layout("grpc-probe", &want);
}

#[test]
fn exporter_image_equals_the_dockerfile() {
    let want = declared("FROM scratch AS exporter");
    assert_eq!(want.user, "65534:65534");
    assert_eq!(want.ports, ["9913/tcp"]);
    assert_eq!(want.binary, "/grpc-exporter");
    assert!(want.files.contains_key("/etc/grpc-exporter/config.yml"));
    assert_eq!(written("grpc-exporter"), want);
    check_layout("grpc-exporter", &want);
}
