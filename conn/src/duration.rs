//! Go-style durations (`100ms`, `1.5s`, `1m30s`), because the flags we
//! accept are grpc_health_probe's, which parses them with Go's
//! `time.ParseDuration`, and our messages print them the way Go does.

use std::time::Duration;

const NANOS_PER_UNIT: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),  // µ MICRO SIGN, what Go prints
    ("\u{3bc}s", 1_000), // μ GREEK SMALL LETTER MU, which Go also accepts
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 3_600 * 1_000_000_000),
];

/// Parses a duration the way Go's `time.ParseDuration` does: a sequence of
/// decimal numbers, each with an optional fraction and a required unit
/// (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), e.g. `300ms`, `1.5s`, `1h2m`.
/// `0` needs no unit. A negative duration cannot be a timeout and is
/// rejected here with a message saying so.
///
/// Usable as a clap `value_parser`.
pub fn parse_go_duration(input: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration \"{input}\" (expected e.g. 500ms, 1s, 1m30s)");
    let mut rest = input;
    let negative = match rest.as_bytes().first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(f) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                f.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let Some(&(_, scale)) = NANOS_PER_UNIT.iter().find(|(name, _)| *name == unit) else {
            return Err(if unit.is_empty() {
                format!("invalid duration \"{input}\": missing unit (use ns, us, ms, s, m or h)")
            } else {
                format!("invalid duration \"{input}\": unknown unit \"{unit}\"")
            });
        };
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut nanos = int.checked_mul(scale).ok_or_else(invalid)?;
        // The fraction is exact to the nanosecond: scale it digit by digit
        // rather than through a float.
        let mut place = scale;
        for digit in frac_part.bytes().take(30) {
            place /= 10;
            nanos += u128::from(digit - b'0') * place;
        }
        total = total.checked_add(nanos).ok_or_else(invalid)?;
        rest = after;
    }
    if total > u128::from(u64::MAX) {
        return Err(invalid());
    }
    if negative && total > 0 {
        return Err(format!("must be greater than zero (specified: {input})"));
    }
    let secs = (total / 1_000_000_000) as u64;
    let nanos = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

/// Formats a duration the way Go's `time.Duration.String` does: `1s`,
/// `1.5s`, `100ms`, `1m30s`, `1h0m0s`, `0s`.
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}\u{b5}s", decimal(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", decimal(nanos, 1_000_000));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let seconds = decimal(nanos % 60_000_000_000, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// `value / unit` as a decimal with trailing zeros trimmed.
fn decimal(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_go_parses() {
        let ms = Duration::from_millis;
        for (input, want) in [
            ("0", Duration::ZERO),
            ("1s", ms(1000)),
            ("100ms", ms(100)),
            ("1.5s", ms(1500)),
            (".5s", ms(500)),
            ("1m30s", ms(90_000)),
            ("1h", ms(3_600_000)),
            ("250us", Duration::from_micros(250)),
            ("250\u{b5}s", Duration::from_micros(250)),
            ("250\u{3bc}s", Duration::from_micros(250)),
            ("7ns", Duration::from_nanos(7)),
            ("+2s", ms(2000)),
            ("1h2m3.004s", ms(3_723_004)),
        ] {
            assert_eq!(parse_go_duration(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn rejects_what_go_rejects_and_negatives() {
        for input in ["", "1", "s", "1x", "1.s.", "-", "1s2", "abc", ".s"] {
            let err = parse_go_duration(input).expect_err(input);
            assert!(err.contains(&format!("\"{input}\"")), "{err}");
        }
        assert_eq!(
            parse_go_duration("-1s"),
            Err("must be greater than zero (specified: -1s)".to_owned())
        );
    }

    #[test]
    fn formats_like_go() {
        let ms = Duration::from_millis;
        for (d, want) in [
            (Duration::ZERO, "0s"),
            (ms(1000), "1s"),
            (ms(1500), "1.5s"),
            (ms(100), "100ms"),
            (ms(90_000), "1m30s"),
            (ms(3_600_000), "1h0m0s"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_micros(2), "2\u{b5}s"),
            (Duration::from_nanos(5), "5ns"),
        ] {
            assert_eq!(format_go_duration(d), want);
            assert_eq!(parse_go_duration(want), Ok(d), "round trip {want}");
        }
    }
}
