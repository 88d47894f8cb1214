//! Dates as RFC 3339 UTC, without a date crate: the probe's JSON, its
//! certificate-expiry messages, the dashboard's timestamps and the
//! exporter's logs all print through [`rfc3339_utc`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now as RFC 3339 UTC with milliseconds, e.g. `2026-11-25T12:00:00.123Z`
/// (for `--watch --output json`).
pub fn rfc3339_now() -> String {
    rfc3339(SystemTime::now())
}

/// `time` as RFC 3339 UTC with milliseconds.
pub fn rfc3339(time: SystemTime) -> String {
    rfc3339_utc(time.duration_since(UNIX_EPOCH).unwrap_or_default(), true)
}

/// A time since the Unix epoch as RFC 3339 UTC (`2001-01-01T00:00:00Z`),
/// with milliseconds when asked. The one date formatter of the workspace:
/// the probe's JSON, its certificate-expiry messages and the dashboard's
/// timestamps all use it, so no date crate is needed.
pub fn rfc3339_utc(since_epoch: Duration, millis: bool) -> String {
    let secs = since_epoch.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(i64::MAX / 2));
    let clock = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if millis {
        format!("{clock}.{:03}Z", since_epoch.subsec_millis())
    } else {
        format!("{clock}Z")
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.789Z");
    }
}
