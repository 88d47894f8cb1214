//! Series built from values already known (a probe's results, a Channelz
//! scrape), encoded by `prometheus-client` in the format the scraper asked
//! for: OpenMetrics when `Accept` names it, the classic 0.0.4 text
//! otherwise (what `promtool check metrics` 2.42 and older scrapers read).
//!
//! A probe's answer is computed once and then exposed, so the families here
//! hold plain values rather than live atomics; `prometheus-client` still
//! writes every byte of the format. Help texts are written as given (the
//! `Registry::register` path appends a period, which would make our help
//! differ from blackbox_exporter's).
//!
//! Label values often come from a server (service names, certificate
//! subjects, Channelz targets): the format escapes only `\\`, `"` and
//! newlines, so every other control or bidi character is made a visible
//! escape here, before it can reach whoever reads the page on a terminal.

use std::borrow::Cow;

use grpc_toolkit_conn::escape::escape;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// One label pair.
pub type Labels = Vec<(String, String)>;

/// One metric family with its samples.
#[derive(Debug, Clone)]
pub struct Family {
    name: String,
    help: String,
    kind: MetricType,
    samples: Vec<(Labels, f64)>,
}

impl Family {
    /// A gauge family.
    pub fn gauge(name: &str, help: &str) -> Family {
        Family {
            name: name.to_owned(),
            help: help.to_owned(),
            kind: MetricType::Gauge,
            samples: Vec::new(),
        }
    }

    /// A counter family; `name` without `_total` (the encoder adds it).
    pub fn counter(name: &str, help: &str) -> Family {
        Family {
            kind: MetricType::Counter,
            ..Family::gauge(name, help)
        }
    }

    /// Adds a sample.
    pub fn sample(mut self, labels: &[(&str, &str)], value: f64) -> Family {
        self.push(labels, value);
        self
    }

    /// Adds a sample in place.
    pub fn push(&mut self, labels: &[(&str, &str)], value: f64) {
        self.samples.push((
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), escape(v).into_owned()))
                .collect(),
            value,
        ));
    }

    /// Adds a sample with owned labels.
    pub fn push_owned(&mut self, mut labels: Labels, value: f64) {
        for (_, v) in &mut labels {
            if let Cow::Owned(escaped) = escape(v) {
                *v = escaped;
            }
        }
        self.samples.push((labels, value));
    }

    /// The family's name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when no sample was added (such a family is not written).
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// A set of families, registered as one collector.
#[derive(Debug, Clone, Default)]
pub struct Families(pub Vec<Family>);

impl Families {
    /// Adds a family (kept even when empty; empty ones are not written).
    pub fn add(&mut self, family: Family) {
        self.0.push(family);
    }

    /// Replaces each label value for which `rewrite` returns a new text
    /// (a secret a target echoed back, see [`crate::log::Secrets`]).
    pub fn rewrite_label_values(&mut self, rewrite: impl Fn(&str) -> Option<String>) {
        for family in &mut self.0 {
            for (labels, _) in &mut family.samples {
                for (_, value) in labels {
                    if let Some(new) = rewrite(value) {
                        *value = new;
                    }
                }
            }
        }
    }

    /// A registry holding these families only.
    pub fn into_registry(self) -> Registry {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        registry
    }
}

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        for family in &self.0 {
            if family.samples.is_empty() {
                continue;
            }
            let mut metric =
                encoder.encode_descriptor(&family.name, &family.help, None, family.kind)?;
            for (labels, value) in &family.samples {
                let sample = metric.encode_family(labels)?;
                Value(*value, family.kind).encode(sample)?;
            }
        }
        Ok(())
    }
}

/// A value with the type it is written as.
#[derive(Debug)]
struct Value(f64, MetricType);

impl EncodeMetric for Value {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        match self.1 {
            MetricType::Counter => encoder.encode_counter::<NoLabelSet, f64, f64>(&self.0, None),
            _ => encoder.encode_gauge(&self.0),
        }
    }
    fn metric_type(&self) -> MetricType {
        self.1
    }
}

/// The exposition format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Classic,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the `Accept` header names it, classic otherwise.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Classic,
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Classic => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Encodes a registry in `format`.
pub fn encode(registry: &Registry, format: Format) -> String {
    let mut out = String::with_capacity(2048);
    // Writing to a String cannot fail; a collector error would be a bug,
    // and the partial text is still the best answer.
    let _ = match format {
        Format::Classic => prometheus_client::encoding::prometheus_text::encode(&mut out, registry),
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, registry),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_and_openmetrics() {
        let mut f = Families::default();
        f.add(
            Family::gauge(
                "probe_success",
                "Displays whether or not the probe was a success",
            )
            .sample(&[], 1.0),
        );
        f.add(Family::counter("x_calls", "Calls").sample(&[("target", "a\"b")], 3.0));
        f.add(Family::gauge("empty", "never written"));
        let registry = f.into_registry();
        let classic = encode(&registry, Format::Classic);
        assert!(
            classic
                .contains("# HELP probe_success Displays whether or not the probe was a success\n"),
            "{classic}"
        );
        assert!(classic.contains("probe_success 1"), "{classic}");
        assert!(
            classic.contains("# TYPE x_calls_total counter"),
            "{classic}"
        );
        assert!(
            classic.contains("x_calls_total{target=\"a\\\"b\"} 3"),
            "{classic}"
        );
        assert!(!classic.contains("empty"), "{classic}");
        assert!(!classic.contains("# EOF"), "{classic}");
        let om = encode(&registry, Format::OpenMetrics);
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert!(om.contains("# TYPE x_calls counter"), "{om}");
    }

    #[test]
    fn accept_negotiation() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::from_accept(Some(prom)), Format::OpenMetrics);
        assert_eq!(Format::from_accept(Some("text/plain")), Format::Classic);
        assert_eq!(Format::from_accept(None), Format::Classic);
    }
}
