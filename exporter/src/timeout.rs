//! The probe deadline, by blackbox_exporter's rule (`getTimeout` in its
//! `prober/handler.go`): Prometheus's `X-Prometheus-Scrape-Timeout-Seconds`
//! (120 s when absent or zero) minus `--timeout-offset`, replaced by the
//! module's `timeout` when that is set and smaller, or when the difference
//! is negative.

use std::time::Duration;

/// Why the header could not be used (blackbox answers 500).
#[derive(Debug, thiserror::Error)]
#[error("Failed to parse timeout from Prometheus header: invalid value \"{0}\"")]
pub struct BadTimeoutHeader(pub String);

/// The probe's timeout in seconds (may be zero: the probe then fails at once).
pub fn probe_timeout(
    header: Option<&str>,
    module_timeout: Duration,
    offset: f64,
) -> Result<f64, BadTimeoutHeader> {
    let mut seconds = match header {
        Some(text) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| BadTimeoutHeader(text.to_owned()))?,
        None => 0.0,
    };
    if seconds == 0.0 {
        seconds = 120.0;
    }
    let max = seconds - offset;
    let module = module_timeout.as_secs_f64();
    Ok(if (module < max && module > 0.0) || max < 0.0 {
        module
    } else {
        max
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blackbox_rule() {
        let none = Duration::ZERO;
        assert_eq!(probe_timeout(None, none, 0.5).expect("ok"), 119.5);
        assert_eq!(probe_timeout(Some("10"), none, 0.5).expect("ok"), 9.5);
        assert_eq!(
            probe_timeout(Some("10"), Duration::from_secs(3), 0.5).expect("ok"),
            3.0
        );
        assert_eq!(
            probe_timeout(Some("10"), Duration::from_secs(30), 0.5).expect("ok"),
            9.5
        );
        // Negative difference: the module's timeout, even zero.
        assert_eq!(probe_timeout(Some("0.2"), none, 0.5).expect("ok"), 0.0);
        assert_eq!(
            probe_timeout(Some("0.2"), Duration::from_secs(2), 0.5).expect("ok"),
            2.0
        );
        assert_eq!(probe_timeout(Some("0"), none, 0.5).expect("ok"), 119.5);
        assert!(probe_timeout(Some("ten"), none, 0.5).is_err());
    }
}
