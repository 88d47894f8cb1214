//! Wire compatibility of our `.proto` files with the ones real gRPC ships.
//!
//! Our `grpc.health.v1` and `grpc.channelz.v1` are written from the
//! published specs; a wrong field number or type would still compile and
//! only break on the wire against a real server. So this compares our
//! descriptors, fact by fact (messages, fields with number, type, label,
//! type name, oneof and proto3 `optional`, oneofs, map entries, enum values,
//! services and methods with their streaming flags), with the descriptors
//! that the real `grpcio-health-checking` and `grpcio-channelz` packages
//! ship, dumped by `tests/peers/python/dump_descriptors.py` from the peers'
//! venv. Any difference in either direction fails and is listed.
//!
//! Our xDS protos (CSDS and the resources it carries) are trimmed copies of
//! envoy's, so there the rule is one way: every fact of ours must be in the
//! file of the same name that `xds-protos` ships, and a field we left out
//! is no difference.
//!
//! `json_name` is left out: Python's `CopyToProto` does not fill it in, and
//! it does not change the binary wire format.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto, FileDescriptorSet};
use testkit::peers::{or_skip, python, source_dir};

/// Our `grpc.*` files, by proto package (the well-known types they import
/// are protobuf's own and left out).
fn ours() -> BTreeMap<String, FileDescriptorProto> {
    let set = FileDescriptorSet::decode(grpc_toolkit_proto::FILE_DESCRIPTOR_SET)
        .expect("our FILE_DESCRIPTOR_SET decodes");
    by_package(
        set.file
            .into_iter()
            .filter(|file| file.package().starts_with("grpc.")),
    )
}

/// Keyed by package; each package is one file in both sets, and a second
/// one would otherwise hide the first from the comparison.
fn by_package(
    files: impl IntoIterator<Item = FileDescriptorProto>,
) -> BTreeMap<String, FileDescriptorProto> {
    let mut map = BTreeMap::new();
    for file in files {
        let package = file.package().to_owned();
        let name = file.name().to_owned();
        assert!(
            map.insert(package.clone(), file).is_none(),
            "{package} has a second file {name}"
        );
    }
    map
}

/// The files grpcio ships, by proto package; `None` when the peers' Python
/// is not installed and we are not in CI.
async fn theirs() -> Option<BTreeMap<String, FileDescriptorProto>> {
    Some(by_package(dump("python/dump_descriptors.py").await?))
}

/// The files a dump script prints; `None` as for [`theirs`].
async fn dump(script: &str) -> Option<Vec<FileDescriptorProto>> {
    let python = or_skip(python().await)?;
    let script = source_dir().join(script);
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("the dump is ASCII");
    let files = stdout.lines().map(|line| {
        let (name, hex) = line.split_once(' ').expect("`<name> <hex>` lines");
        let bytes = decode_hex(hex).unwrap_or_else(|| panic!("bad hex for {name}"));
        FileDescriptorProto::decode(bytes.as_slice())
            .unwrap_or_else(|e| panic!("{name} does not decode: {e}"))
    });
    Some(files.collect())
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Everything about a file that decides its wire format and its RPC
/// surface, one fact per line, so two files compare as two sets.
fn facts(file: &FileDescriptorProto) -> BTreeSet<String> {
    let mut facts = BTreeSet::new();
    facts.insert(format!(
        "package {} syntax {}",
        file.package(),
        file.syntax()
    ));
    let scope = format!(".{}", file.package());
    for message in &file.message_type {
        message_facts(&scope, message, &mut facts);
    }
    for enumeration in &file.enum_type {
        enum_facts(&scope, enumeration, &mut facts);
    }
    for service in &file.service {
        let service_name = format!("{scope}.{}", service.name());
        facts.insert(format!("service {service_name}"));
        for method in &service.method {
            facts.insert(format!(
                "rpc {service_name}.{}({}{}) returns ({}{})",
                method.name(),
                if method.client_streaming() {
                    "stream "
                } else {
                    ""
                },
                method.input_type(),
                if method.server_streaming() {
                    "stream "
                } else {
                    ""
                },
                method.output_type(),
            ));
        }
    }
    facts
}

fn message_facts(scope: &str, message: &DescriptorProto, facts: &mut BTreeSet<String>) {
    let name = format!("{scope}.{}", message.name());
    let map_entry = message.options.as_ref().is_some_and(|o| o.map_entry());
    facts.insert(format!(
        "message {name}{}",
        if map_entry { " (map entry)" } else { "" }
    ));
    for oneof in &message.oneof_decl {
        facts.insert(format!("oneof {name}.{}", oneof.name()));
    }
    for field in &message.field {
        let oneof = field
            .oneof_index
            .and_then(|i| message.oneof_decl.get(usize::try_from(i).ok()?))
            .map_or("-", |oneof| oneof.name());
        facts.insert(format!(
            "field {name}.{} = {} {} {} {} oneof={oneof} proto3_optional={}",
            field.name(),
            field.number(),
            Label::try_from(field.label.unwrap_or_default()).map_or("?", |l| l.as_str_name()),
            Type::try_from(field.r#type.unwrap_or_default()).map_or("?", |t| t.as_str_name()),
            field.type_name(),
            field.proto3_optional(),
        ));
    }
    for nested in &message.nested_type {
        message_facts(&name, nested, facts);
    }
    for enumeration in &message.enum_type {
        enum_facts(&name, enumeration, facts);
    }
}

fn enum_facts(scope: &str, enumeration: &EnumDescriptorProto, facts: &mut BTreeSet<String>) {
    let name = format!("{scope}.{}", enumeration.name());
    facts.insert(format!("enum {name}"));
    for value in &enumeration.value {
        facts.insert(format!(
            "enum value {name}.{} = {}",
            value.name(),
            value.number()
        ));
    }
}

/// The differences between two fact sets, as a readable list.
fn differences(ours: &BTreeSet<String>, theirs: &BTreeSet<String>) -> Vec<String> {
    let missing = theirs
        .difference(ours)
        .map(|fact| format!("missing in ours: {fact}"));
    let extra = ours
        .difference(theirs)
        .map(|fact| format!("extra in ours:   {fact}"));
    missing.chain(extra).collect()
}

fn assert_same(
    package: &str,
    ours: &BTreeMap<String, FileDescriptorProto>,
    theirs: &BTreeMap<String, FileDescriptorProto>,
) {
    let our_file = ours
        .get(package)
        .unwrap_or_else(|| panic!("we have no {package}"));
    let their_file = theirs
        .get(package)
        .unwrap_or_else(|| panic!("grpcio ships no {package}"));
    let diff = differences(&facts(our_file), &facts(their_file));
    assert!(
        diff.is_empty(),
        "{package} differs from grpcio's:\n{}",
        diff.join("\n")
    );
}

#[tokio::test]
async fn health_matches_grpcio_health_checking() {
    let Some(theirs) = theirs().await else {
        return;
    };
    assert_same("grpc.health.v1", &ours(), &theirs);
}

#[tokio::test]
async fn channelz_matches_grpcio_channelz() {
    let Some(theirs) = theirs().await else {
        return;
    };
    assert_same("grpc.channelz.v1", &ours(), &theirs);
}

/// Every message, field, enum value and RPC of our trimmed envoy files has
/// the same name, number, type and oneof in the file xds-protos ships.
#[tokio::test]
async fn xds_protos_are_a_subset_of_xds_protos() {
    let Some(theirs) = dump("python/dump_xds_descriptors.py").await else {
        return;
    };
    let theirs: BTreeMap<String, FileDescriptorProto> = theirs
        .into_iter()
        .map(|file| (file.name().to_owned(), file))
        .collect();
    let set = FileDescriptorSet::decode(grpc_toolkit_proto::XDS_FILE_DESCRIPTOR_SET)
        .expect("our XDS_FILE_DESCRIPTOR_SET decodes");
    let ours: Vec<_> = set
        .file
        .iter()
        .filter(|file| file.package().starts_with("envoy."))
        .collect();
    assert_eq!(ours.len(), 14, "the envoy files we keep");
    let mut problems = Vec::new();
    for file in ours {
        let Some(their_file) = theirs.get(file.name()) else {
            problems.push(format!("xds-protos has no {}", file.name()));
            continue;
        };
        let their_facts = facts(their_file);
        for fact in facts(file).difference(&their_facts) {
            problems.push(format!("{}: not upstream: {fact}", file.name()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Guards the comparison itself: the facts must cover every RPC and field
/// kind we care about, or two equal but empty sets would pass.
#[test]
fn facts_cover_every_rpc_and_field() {
    let ours = ours();
    let health = facts(&ours["grpc.health.v1"]);
    let channelz = facts(&ours["grpc.channelz.v1"]);
    let rpcs = |facts: &BTreeSet<String>| facts.iter().filter(|f| f.starts_with("rpc ")).count();
    assert_eq!(rpcs(&health), 3, "Check, List, Watch");
    assert_eq!(rpcs(&channelz), 7);
    assert!(health.contains(
        "rpc .grpc.health.v1.Health.Watch(.grpc.health.v1.HealthCheckRequest) \
         returns (stream .grpc.health.v1.HealthCheckResponse)"
    ));
    assert!(
        health
            .iter()
            .any(|f| f.ends_with("StatusesEntry (map entry)"))
    );
    assert!(
        channelz
            .iter()
            .any(|f| f.starts_with("oneof .grpc.channelz.v1.Address.address"))
    );
    assert!(channelz.iter().any(|f| f.contains("oneof=address")));
    assert!(
        channelz
            .iter()
            .any(|f| f.starts_with("enum value .grpc.channelz.v1.ChannelConnectivityState.State."))
    );
}

/// Guards the comparison itself: one changed field number, one renamed enum
/// value and one streaming flag must each show up as a difference.
#[test]
fn a_changed_descriptor_is_reported() {
    let original = ours()["grpc.health.v1"].clone();
    let before = facts(&original);

    let mut renumbered = original.clone();
    renumbered.message_type[0].field[0].number = Some(2);
    let mut renamed = original.clone();
    let status_enum = renamed
        .message_type
        .iter_mut()
        .find_map(|m| m.enum_type.first_mut());
    status_enum.expect("ServingStatus").value[0].name = Some("UNKNOWN_RENAMED".to_owned());
    let mut unary_watch = original.clone();
    for method in &mut unary_watch.service[0].method {
        method.server_streaming = Some(false);
    }

    for changed in [renumbered, renamed, unary_watch] {
        let diff = differences(&before, &facts(&changed));
        assert_eq!(diff.len(), 2, "one fact missing and one extra: {diff:#?}");
    }
}
