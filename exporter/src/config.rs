//! The configuration file: blackbox_exporter's `blackbox.yml`, loaded as it
//! is, plus our own keys.
//!
//! `grpc` modules are parsed strictly, as blackbox_exporter parses them: an
//! unknown key or a bad value is an error naming the file, line and reason.
//! Modules of every other prober (http, tcp, icmp, dns, unix, websocket, and
//! probers newer than ours) are parsed loosely, kept only by name and
//! prober, and skipped with one warning each, so a shared `blackbox.yml`
//! loads unchanged. Parsing is streaming (a hand-written map visitor rather
//! than `#[serde(flatten)]`) so that every error keeps its line number.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::allow::AllowList;

/// A loaded, validated configuration.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Config {
    /// Every module by name, gRPC or not.
    pub modules: BTreeMap<String, Module>,
    /// Our extension: the targets the exporter may reach; empty allows all.
    #[serde(skip_serializing_if = "AllowList::is_empty")]
    pub allowed_targets: AllowList,
}

/// One module of the file.
#[derive(Debug, Clone, Serialize)]
pub struct Module {
    /// The prober named by the module (`grpc`, `http`, ...).
    pub prober: String,
    /// The module's `timeout`; zero when not set.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// Present for `grpc` modules only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcModule>,
}

/// IP family preference of a module (`preferred_ip_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum IpProtocol {
    /// `ip4`.
    #[serde(rename = "ip4")]
    Ip4,
    /// `ip6` (blackbox's default).
    #[default]
    #[serde(rename = "ip6")]
    Ip6,
}

impl<'de> Deserialize<'de> for IpProtocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        // blackbox treats anything but "ip4" as ip6 ("" included); we are
        // stricter about typos but accept what it writes.
        match text.as_str() {
            "ip4" | "tcp4" => Ok(IpProtocol::Ip4),
            "ip6" | "tcp6" | "" => Ok(IpProtocol::Ip6),
            other => Err(de::Error::custom(format!(
                "preferred_ip_protocol \"{other}\" is not ip4 or ip6"
            ))),
        }
    }
}

/// The lowest TLS version a module accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TlsVersion {
    /// `TLS10`.
    TLS10,
    /// `TLS11`.
    TLS11,
    /// `TLS12`.
    TLS12,
    /// `TLS13`.
    TLS13,
}

impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "TLS10" => Ok(TlsVersion::TLS10),
            "TLS11" => Ok(TlsVersion::TLS11),
            "TLS12" => Ok(TlsVersion::TLS12),
            "TLS13" => Ok(TlsVersion::TLS13),
            other => Err(de::Error::custom(format!(
                "unknown TLS version \"{other}\" (expected TLS10, TLS11, TLS12 or TLS13)"
            ))),
        }
    }
}

impl TlsVersion {
    /// Go's spelling of a negotiated version (`TLS 1.2`) against this floor.
    pub fn allows(self, negotiated: &str) -> bool {
        let rank = match negotiated {
            "TLS 1.0" => TlsVersion::TLS10,
            "TLS 1.1" => TlsVersion::TLS11,
            "TLS 1.2" => TlsVersion::TLS12,
            "TLS 1.3" => TlsVersion::TLS13,
            _ => return false,
        };
        rank >= self
    }
}

/// `tls_config`, the subset of Prometheus's common TLS config blackbox's
/// grpc prober uses.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA bundle to verify the server with; the system store when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate for mTLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// Client key for mTLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Name to verify (and send as SNI) instead of the target's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Accept any certificate.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// The lowest version accepted (checked after the handshake: rustls
    /// speaks 1.2 and 1.3 only, so TLS10 and TLS11 change nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<TlsVersion>,
    /// The highest version accepted; kept for compatibility, only checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<TlsVersion>,
}

/// Channelz options of a module (our extension).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelzOptions {
    /// Add subchannel and socket series (more series, more RPCs).
    #[serde(default)]
    pub detail: bool,
    /// Series per family per scrape; the rest are summed into one
    /// `other` series and counted in `grpc_channelz_series_dropped`.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
    /// List pages (`GetTopChannels`, `GetServers`, `GetServerSockets`) one
    /// scrape may request: a server whose pages never end stops here, and
    /// the scrape says so in `grpc_channelz_incomplete`.
    #[serde(
        default = "default_max_pages",
        deserialize_with = "at_least_one::<_, MaxPages>"
    )]
    pub max_pages: usize,
    /// Entities one scrape may hold (channels, servers, subchannels,
    /// sockets): what the exporter's memory per scrape is bounded by.
    #[serde(
        default = "default_max_entities",
        deserialize_with = "at_least_one::<_, MaxEntities>"
    )]
    pub max_entities: usize,
    /// Also read CSDS (the xDS client status) on the same connection and
    /// export it as `grpc_xds_*` series (gRFC A78's names).
    #[serde(default)]
    pub xds: bool,
    /// Series per xDS family per scrape (`grpc_xds_client_resources`,
    /// `grpc_xds_client_resource_nack_info`); beyond it counts fold into
    /// `_other` and NACK series are left out, counted in
    /// `grpc_xds_series_dropped`.
    #[serde(
        default = "default_max_series",
        deserialize_with = "at_least_one::<_, XdsMaxSeries>"
    )]
    pub xds_max_series: usize,
}

/// The name of a bound, for [`at_least_one`]'s error.
trait BoundName {
    const NAME: &'static str;
}

struct MaxPages;
impl BoundName for MaxPages {
    const NAME: &'static str = "max_pages";
}

struct XdsMaxSeries;
impl BoundName for XdsMaxSeries {
    const NAME: &'static str = "xds_max_series";
}

struct MaxEntities;
impl BoundName for MaxEntities {
    const NAME: &'static str = "max_entities";
}

/// A count bound that must allow something: 0 would make every scrape
/// read nothing and report itself cut.
fn at_least_one<'de, D: Deserializer<'de>, N: BoundName>(d: D) -> Result<usize, D::Error> {
    match usize::deserialize(d)? {
        0 => Err(de::Error::custom(format!(
            "channelz.{} must be at least 1",
            N::NAME
        ))),
        n => Ok(n),
    }
}

fn default_max_series() -> usize {
    500
}

fn default_max_pages() -> usize {
    1_000
}

fn default_max_entities() -> usize {
    100_000
}

impl Default for ChannelzOptions {
    fn default() -> Self {
        Self {
            detail: false,
            max_series: default_max_series(),
            max_pages: default_max_pages(),
            max_entities: default_max_entities(),
            xds: false,
            xds_max_series: default_max_series(),
        }
    }
}

/// A `grpc` module's `grpc:` section: blackbox's keys, then ours.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcModule {
    /// The service to Check (`""`: the server as a whole).
    #[serde(default)]
    pub service: String,
    /// Use TLS.
    #[serde(default)]
    pub tls: bool,
    /// TLS settings.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Which family to dial first.
    #[serde(default)]
    pub preferred_ip_protocol: IpProtocol,
    /// Dial the other family when the preferred one has no address.
    #[serde(default = "yes")]
    pub ip_protocol_fallback: bool,
    /// Metadata sent with every RPC; values are secrets, never shown.
    #[serde(
        default,
        deserialize_with = "de_metadata",
        serialize_with = "ser_masked_metadata",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub metadata: BTreeMap<String, Vec<String>>,
    /// Extension: several services to Check; success is all of them SERVING.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// Extension: call `Health/List` and report every service the server has.
    #[serde(default)]
    pub list: bool,
    /// Extension: the `:authority` (and, by default, the TLS name) to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Extension: the `user-agent` prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Extension: gzip requests and accept gzip responses.
    #[serde(default)]
    pub gzip: bool,
    /// Extension: `/channelz` options.
    #[serde(default)]
    pub channelz: ChannelzOptions,
}

fn yes() -> bool {
    true
}

impl GrpcModule {
    /// The services the probe checks, in order; the first one feeds
    /// blackbox's series.
    pub fn checked_services(&self) -> Vec<String> {
        if self.services.is_empty() {
            vec![self.service.clone()]
        } else {
            self.services.clone()
        }
    }

    /// True when per-service series are written (several services or List).
    pub fn per_service(&self) -> bool {
        !self.services.is_empty() || self.list
    }
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&grpc_toolkit_conn::format_go_duration(*d))
}

/// `metadata` as blackbox reads it (`key: [values]`), with errors that
/// never quote a value: serde's own "invalid type: string \"Bearer …\""
/// would put a token in the log and in `--config.check`'s output.
fn de_metadata<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    let raw = BTreeMap::<String, serde_yaml_ng::Value>::deserialize(d)
        .map_err(|_| de::Error::custom("metadata must be a map of keys to lists of strings"))?;
    let mut out = BTreeMap::new();
    for (key, value) in raw {
        let serde_yaml_ng::Value::Sequence(items) = value else {
            return Err(de::Error::custom(
                "metadata values must be lists of strings (key: [\"value\"])",
            ));
        };
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            match item {
                serde_yaml_ng::Value::String(text) => values.push(text),
                _ => {
                    return Err(de::Error::custom(
                        "metadata values must be lists of strings (key: [\"value\"])",
                    ));
                }
            }
        }
        out.insert(key, values);
    }
    Ok(out)
}

fn ser_masked_metadata<S: serde::Serializer>(
    md: &BTreeMap<String, Vec<String>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    // Keys may name a credential scheme too; neither keys nor values are
    // ever shown, only how many there are.
    s.serialize_str(&format!("<{} masked>", md.len()))
}

impl<'de> Deserialize<'de> for Module {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ModuleVisitor;
        impl<'de> Visitor<'de> for ModuleVisitor {
            type Value = Module;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a module (prober, timeout, and the prober's section)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Module, A::Error> {
                let mut prober: Option<String> = None;
                let mut timeout = Duration::ZERO;
                let mut grpc: Option<GrpcModule> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "prober" => prober = Some(map.next_value()?),
                        "timeout" => timeout = map.next_value::<DurationValue>()?.0,
                        "grpc" => grpc = Some(map.next_value()?),
                        // Other probers' sections, including ones newer
                        // than this exporter: not ours to judge.
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let prober = prober.ok_or_else(|| de::Error::missing_field("prober"))?;
                if prober == "grpc" {
                    // No `grpc:` section means every default.
                    let grpc = grpc.unwrap_or_default();
                    for (name, values) in &grpc.metadata {
                        check_metadata_name(name).map_err(de::Error::custom)?;
                        // Checked here so that a bad value never reaches the
                        // connection layer, whose message would name the key.
                        let binary = name.to_ascii_lowercase().ends_with("-bin");
                        let printable = |v: &String| v.bytes().all(|b| (0x20..=0x7e).contains(&b));
                        if !binary && !values.iter().all(printable) {
                            return Err(de::Error::custom(
                                "a metadata value is not printable ASCII (binary values need a key ending in -bin)",
                            ));
                        }
                    }
                    return Ok(Module {
                        prober,
                        timeout,
                        grpc: Some(grpc),
                    });
                }
                Ok(Module {
                    prober,
                    timeout,
                    grpc: None,
                })
            }
        }
        d.deserialize_map(ModuleVisitor)
    }
}

impl Default for GrpcModule {
    /// What an empty `grpc:` section means (blackbox's defaults).
    fn default() -> Self {
        GrpcModule {
            service: String::new(),
            tls: false,
            tls_config: TlsConfig::default(),
            preferred_ip_protocol: IpProtocol::Ip6,
            ip_protocol_fallback: true,
            metadata: BTreeMap::new(),
            services: Vec::new(),
            list: false,
            authority: None,
            user_agent: None,
            gzip: false,
            channelz: ChannelzOptions::default(),
        }
    }
}

/// Metadata names: lower-case, not reserved by gRPC. The name is not echoed
/// when it is not a valid header name (it may be part of a pasted token).
fn check_metadata_name(name: &str) -> Result<(), String> {
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("grpc-") || matches!(lower.as_str(), "te" | "content-type" | "connection")
    {
        return Err(format!("metadata key \"{lower}\" is reserved by gRPC"));
    }
    let valid = !lower.is_empty()
        && lower
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return Err("a metadata key is not a valid header name".to_owned());
    }
    Ok(())
}

/// A duration value, validated where it stands so the error has its line.
struct DurationValue(Duration);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(DurationValue)
            .map_err(de::Error::custom)
    }
}

/// A Prometheus/Go duration: `5s`, `1m30s`, `500ms`, also `1d`, `1w`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration \"{text}\"");
    if let Some(days) = text.strip_suffix('d') {
        return days
            .parse::<u64>()
            .map(|d| Duration::from_secs(d * 86_400))
            .map_err(|_| bad());
    }
    if let Some(weeks) = text.strip_suffix('w') {
        return weeks
            .parse::<u64>()
            .map(|w| Duration::from_secs(w * 7 * 86_400))
            .map_err(|_| bad());
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    grpc_toolkit_conn::parse_go_duration(text).map_err(|_| bad())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    modules: BTreeMap<String, Module>,
    #[serde(default)]
    allowed_targets: Vec<String>,
}

/// Why the file could not be loaded: one line with the file, line and reason.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {reason}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

/// A loaded config and the warnings loading it gave (skipped modules).
#[derive(Debug)]
pub struct Loaded {
    /// The config.
    pub config: Config,
    /// One line per skipped module.
    pub warnings: Vec<String>,
}

/// Reads and validates `path`.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: path.to_owned(),
        line: None,
        reason: format!("cannot read: {}", e.kind()),
    })?;
    parse(&text).map_err(|(line, reason)| ConfigError {
        path: path.to_owned(),
        line,
        reason,
    })
}

/// Parses a config from text; errors as (line, reason).
pub fn parse(text: &str) -> Result<Loaded, (Option<usize>, String)> {
    let raw: RawConfig = if text.trim().is_empty() {
        RawConfig {
            modules: BTreeMap::new(),
            allowed_targets: Vec::new(),
        }
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| {
            let line = e.location().map(|l| l.line());
            // serde_yaml_ng appends " at line N column M"; we print the
            // line ourselves, once.
            let msg = e.to_string();
            let msg = match msg.find(" at line ") {
                Some(i) => msg[..i].to_owned(),
                None => msg,
            };
            (line, msg)
        })?
    };
    let allowed_targets = AllowList::parse(&raw.allowed_targets).map_err(|e| (None, e))?;
    let mut warnings = Vec::new();
    for (name, module) in &raw.modules {
        if module.prober != "grpc" {
            warnings.push(format!(
                "module \"{name}\" uses prober \"{}\", which this exporter does not run: skipped",
                module.prober
            ));
        }
    }
    Ok(Loaded {
        config: Config {
            modules: raw.modules,
            allowed_targets,
        },
        warnings,
    })
}

impl Config {
    /// The file as YAML with secrets masked, for `/config`.
    pub fn masked_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

impl Module {
    /// The module as YAML with secrets masked, for debug output.
    pub fn masked_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLACKBOX: &str = r#"
modules:
  http_2xx:
    prober: http
    http:
      preferred_ip_protocol: "ip4"
      some_future_key: [1, 2]
  grpc:
    prober: grpc
    grpc:
      tls: true
      preferred_ip_protocol: "ip4"
  grpc_plain:
    prober: grpc
    timeout: 3s
    grpc:
      tls: false
      service: "service1"
      metadata:
        authorization: ["Bearer s3cret"]
  fancy:
    prober: quantum
    quantum: {entangle: true}
"#;

    #[test]
    fn blackbox_file_loads_and_skips_other_probers() {
        let loaded = parse(BLACKBOX).expect("loads");
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        let m = &loaded.config.modules["grpc_plain"];
        assert_eq!(m.timeout, Duration::from_secs(3));
        let g = m.grpc.as_ref().expect("grpc");
        assert_eq!(g.service, "service1");
        assert!(g.ip_protocol_fallback);
        assert_eq!(
            loaded.config.modules["grpc"]
                .grpc
                .as_ref()
                .map(|g| g.preferred_ip_protocol),
            Some(IpProtocol::Ip4)
        );
    }

    #[test]
    fn masked_yaml_never_shows_metadata() {
        let loaded = parse(BLACKBOX).expect("loads");
        let yaml = loaded.config.masked_yaml();
        assert!(!yaml.contains("s3cret"), "{yaml}");
        assert!(!yaml.contains("authorization"), "{yaml}");
        assert!(yaml.contains("<1 masked>"), "{yaml}");
    }

    #[test]
    fn channelz_bounds_are_positive() {
        for key in ["max_pages", "max_entities", "xds_max_series"] {
            let text = format!(
                "modules:\n  g:\n    prober: grpc\n    grpc:\n      channelz:\n        {key}: 0\n"
            );
            let (_, reason) = parse(&text).expect_err("a zero bound");
            assert!(reason.contains(key), "{reason}");
            assert!(reason.contains("at least 1"), "{reason}");
        }
        let text = "modules:\n  g:\n    prober: grpc\n    grpc:\n      channelz: {max_pages: 3}\n";
        let loaded = parse(text).expect("loads");
        let g = loaded.config.modules["g"].grpc.as_ref().expect("grpc");
        assert_eq!(g.channelz.max_pages, 3);
        assert_eq!(g.channelz.max_entities, 100_000);
        assert!(!g.channelz.xds, "CSDS is read only when asked");
        let text = "modules:\n  g:\n    prober: grpc\n    grpc:\n      channelz: {xds: true, xds_max_series: 7}\n";
        let loaded = parse(text).expect("loads");
        let g = loaded.config.modules["g"].grpc.as_ref().expect("grpc");
        assert!(g.channelz.xds);
        assert_eq!(g.channelz.xds_max_series, 7);
    }

    #[test]
    fn grpc_modules_are_strict_with_line_numbers() {
        let text = "modules:\n  g:\n    prober: grpc\n    grpc:\n      servce: x\n";
        let (line, reason) = parse(text).expect_err("unknown key");
        assert_eq!(line, Some(5));
        assert!(reason.contains("unknown field `servce`"), "{reason}");

        let text = "modules:\n  g:\n    prober: grpc\n    timeout: 5 parsecs\n";
        let (line, reason) = parse(text).expect_err("bad duration");
        // serde_yaml_ng places errors raised while converting a scalar at
        // the start of the enclosing mapping; the path names the module.
        assert!(matches!(line, Some(3 | 4)), "{line:?} {reason}");
        assert!(reason.starts_with("modules.g"), "{reason}");
        assert!(reason.contains("invalid duration"), "{reason}");

        let text =
            "modules:\n  g:\n    prober: grpc\n    grpc:\n      preferred_ip_protocol: ip5\n";
        let (line, reason) = parse(text).expect_err("bad family");
        assert!(matches!(line, Some(5 | 6)), "{line:?} {reason}");
        assert!(reason.contains("ip5"), "{reason}");

        let text = "modules:\n  g:\n    grpc: {}\n";
        let (_, reason) = parse(text).expect_err("no prober");
        assert!(reason.contains("prober"), "{reason}");

        let text = "modules: [\n";
        assert!(parse(text).is_err());

        let text = "modules:\n  g:\n    prober: grpc\n    grpc:\n      metadata:\n        authorization: [\"t\\u00e9st\"]\n";
        let (_, reason) = parse(text).expect_err("non-ASCII value");
        assert!(reason.contains("printable ASCII"), "{reason}");
        assert!(!reason.contains("authorization"), "{reason}");

        let text = "modules:\n  g:\n    prober: grpc\n    grpc:\n      metadata:\n        authorization: \"Bearer t0ken\"\n";
        let (_, reason) = parse(text).expect_err("a string, not a list");
        assert!(reason.contains("lists of strings"), "{reason}");
        assert!(!reason.contains("t0ken"), "{reason}");

        let text = "modulez: {}\n";
        let (line, reason) = parse(text).expect_err("unknown top key");
        assert_eq!(line, Some(1), "{reason}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("soon").is_err());
    }
}
