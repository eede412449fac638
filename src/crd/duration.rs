//! Parses and formats Go-style duration strings ("60s", "1h30m", "500ms") the way the API server's
//! CEL `duration()` and Go's `time.ParseDuration` read them.

use std::time::Duration;

/// The schema pattern for duration fields: Go's duration grammar without a sign.
///
/// The API server checks this before the CEL rules run, so a typo gets a readable message instead
/// of a CEL evaluation error; [`parse_duration`] accepts every string this pattern accepts.
pub const DURATION_PATTERN: &str = r"^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$";

/// Longest duration string the schema accepts; keeps CEL cost estimates small.
pub const DURATION_MAX_LENGTH: u32 = 64;

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SECOND: u64 = 1_000_000_000;
const NANOS_PER_MINUTE: u64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: u64 = 60 * NANOS_PER_MINUTE;

/// Go durations are signed 64-bit nanosecond counts; anything longer is refused, as Go does.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Fraction digits beyond nanosecond precision of the largest unit (hours) cannot change the
/// result, so they are read but not accumulated.
const MAX_FRACTION_DIGITS: u32 = 18;

/// Why a duration string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseDurationError {
    /// The string was empty.
    #[error("duration is empty; use a number with a unit such as \"60s\" or \"5m\"")]
    Empty,
    /// The string started with `-`; intervals and timeouts cannot be negative.
    #[error("duration {input:?} is negative")]
    Negative {
        /// The string as given.
        input: String,
    },
    /// A component had no digits before its unit (for example `"s"` or `".s"`).
    #[error("duration {input:?} has a unit without a number")]
    MissingNumber {
        /// The string as given.
        input: String,
    },
    /// A number was not followed by a unit (for example `"60"`).
    #[error("duration {input:?} has a number without a unit; use one of ns, us, ms, s, m, h")]
    MissingUnit {
        /// The string as given.
        input: String,
    },
    /// A unit was not one of Go's (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`).
    #[error("duration {input:?} has unknown unit {unit:?}; use one of ns, us, ms, s, m, h")]
    UnknownUnit {
        /// The string as given.
        input: String,
        /// The unit that was not recognised.
        unit: String,
    },
    /// The duration does not fit Go's signed 64-bit nanosecond range (about 292 years).
    #[error("duration {input:?} is too long")]
    Overflow {
        /// The string as given.
        input: String,
    },
}

/// Parses a Go-style duration such as `"60s"`, `"1h30m"`, `"1.5h"`, `"500ms"` or `"0"`.
///
/// Accepts exactly what Go's `time.ParseDuration` accepts except negative values; fractions are
/// truncated to whole nanoseconds.
pub fn parse_duration(input: &str) -> Result<Duration, ParseDurationError> {
    let owned = || input.to_owned();
    let unsigned = match input.as_bytes().first() {
        None => return Err(ParseDurationError::Empty),
        Some(b'-') => return Err(ParseDurationError::Negative { input: owned() }),
        Some(b'+') => &input[1..],
        Some(_) => input,
    };
    // Go's special case: a bare zero needs no unit.
    if unsigned == "0" {
        return Ok(Duration::ZERO);
    }
    if unsigned.is_empty() {
        return Err(ParseDurationError::MissingNumber { input: owned() });
    }

    let mut rest = unsigned;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (whole, after_whole) = split_digits(rest);
        let mut fraction = "";
        rest = after_whole;
        if let Some(after_dot) = rest.strip_prefix('.') {
            let (digits, after_fraction) = split_digits(after_dot);
            fraction = digits;
            rest = after_fraction;
            if whole.is_empty() && fraction.is_empty() {
                return Err(ParseDurationError::MissingNumber { input: owned() });
            }
        } else if whole.is_empty() {
            return Err(ParseDurationError::MissingNumber { input: owned() });
        }

        let unit_end = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (unit, after_unit) = rest.split_at(unit_end);
        rest = after_unit;
        if unit.is_empty() {
            return Err(ParseDurationError::MissingUnit { input: owned() });
        }
        let unit_nanos = unit_in_nanos(unit).ok_or_else(|| ParseDurationError::UnknownUnit {
            input: owned(),
            unit: unit.to_owned(),
        })?;

        let component = component_nanos(whole, fraction, unit_nanos)
            .ok_or_else(|| ParseDurationError::Overflow { input: owned() })?;
        total = total
            .checked_add(component)
            .filter(|sum| *sum <= MAX_NANOS)
            .ok_or_else(|| ParseDurationError::Overflow { input: owned() })?;
    }

    let total =
        u64::try_from(total).map_err(|_| ParseDurationError::Overflow { input: owned() })?;
    Ok(Duration::from_nanos(total))
}

/// Formats a duration the way Go's `Duration.String` does (`"1h30m0s"`, `"1.5s"`, `"500ms"`,
/// `"0s"`), so messages quote durations in the same syntax users write in the spec.
#[must_use]
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < u128::from(NANOS_PER_SECOND) {
        // Below one second Go picks the largest unit that keeps a whole part.
        let (unit, scale) = if nanos < u128::from(NANOS_PER_MICRO) {
            ("ns", 1)
        } else if nanos < u128::from(NANOS_PER_MILLI) {
            ("µs", NANOS_PER_MICRO)
        } else {
            ("ms", NANOS_PER_MILLI)
        };
        return format!("{}{unit}", decimal(nanos, u128::from(scale)));
    }
    let hours = nanos / u128::from(NANOS_PER_HOUR);
    let minutes = nanos % u128::from(NANOS_PER_HOUR) / u128::from(NANOS_PER_MINUTE);
    let seconds = decimal(
        nanos % u128::from(NANOS_PER_MINUTE),
        u128::from(NANOS_PER_SECOND),
    );
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// `value / scale` written with the fraction digits Go prints (trailing zeros dropped).
fn decimal(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let remainder = value % scale;
    if remainder == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let fraction = format!("{remainder:0width$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

/// Splits off the leading ASCII digits.
fn split_digits(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(end)
}

/// Nanoseconds in one of Go's duration units.
fn unit_in_nanos(unit: &str) -> Option<u64> {
    match unit {
        "ns" => Some(1),
        // U+00B5 is the micro sign, U+03BC the Greek letter mu; Go accepts both.
        "us" | "\u{00b5}s" | "\u{03bc}s" => Some(NANOS_PER_MICRO),
        "ms" => Some(NANOS_PER_MILLI),
        "s" => Some(NANOS_PER_SECOND),
        "m" => Some(NANOS_PER_MINUTE),
        "h" => Some(NANOS_PER_HOUR),
        _ => None,
    }
}

/// `whole.fraction × unit` in nanoseconds, or `None` when it leaves Go's range.
fn component_nanos(whole: &str, fraction: &str, unit_nanos: u64) -> Option<u128> {
    let unit_nanos = u128::from(unit_nanos);
    let mut whole_value: u128 = 0;
    for digit in whole.bytes() {
        whole_value = whole_value
            .checked_mul(10)?
            .checked_add(u128::from(digit - b'0'))?;
        if whole_value > MAX_NANOS {
            return None;
        }
    }
    let mut nanos = whole_value.checked_mul(unit_nanos)?;

    let mut numerator: u128 = 0;
    let mut denominator: u128 = 1;
    for digit in fraction.bytes().take(MAX_FRACTION_DIGITS as usize) {
        numerator = numerator * 10 + u128::from(digit - b'0');
        denominator *= 10;
    }
    nanos = nanos.checked_add(numerator * unit_nanos / denominator)?;
    (nanos <= MAX_NANOS).then_some(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> Duration {
        parse_duration(input).unwrap_or_else(|error| panic!("{input:?} should parse: {error}"))
    }

    #[test]
    fn whole_units_parse_to_their_length() {
        assert_eq!(parsed("60s"), Duration::from_secs(60));
        assert_eq!(parsed("5m"), Duration::from_secs(300));
        assert_eq!(parsed("2h"), Duration::from_secs(7200));
        assert_eq!(parsed("500ms"), Duration::from_millis(500));
        assert_eq!(parsed("250us"), Duration::from_micros(250));
        assert_eq!(parsed("250µs"), Duration::from_micros(250));
        assert_eq!(parsed("250μs"), Duration::from_micros(250));
        assert_eq!(parsed("7ns"), Duration::from_nanos(7));
    }

    #[test]
    fn components_add_up() {
        assert_eq!(parsed("1h30m"), Duration::from_secs(5400));
        assert_eq!(parsed("1h0m10s"), Duration::from_secs(3610));
        assert_eq!(parsed("1m1m"), Duration::from_secs(120));
        assert_eq!(parsed("1s500ms"), Duration::from_millis(1500));
    }

    #[test]
    fn zero_is_accepted_with_and_without_unit() {
        assert_eq!(parsed("0"), Duration::ZERO);
        assert_eq!(parsed("0s"), Duration::ZERO);
        assert_eq!(parsed("0h0m"), Duration::ZERO);
        assert_eq!(parsed("+0"), Duration::ZERO);
    }

    #[test]
    fn fractions_are_exact_to_the_nanosecond() {
        assert_eq!(parsed("1.5h"), Duration::from_secs(5400));
        assert_eq!(parsed(".5s"), Duration::from_millis(500));
        assert_eq!(parsed("1.s"), Duration::from_secs(1));
        assert_eq!(parsed("0.000000001s"), Duration::from_nanos(1));
        // Go truncates below a nanosecond.
        assert_eq!(parsed("1.0000000019s"), Duration::from_nanos(1_000_000_001));
        assert_eq!(
            parsed("1.00000000000000000000000001h"),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn leading_plus_is_accepted_like_go() {
        assert_eq!(parsed("+10s"), Duration::from_secs(10));
    }

    #[test]
    fn empty_string_is_refused() {
        assert_eq!(parse_duration(""), Err(ParseDurationError::Empty));
        assert!(matches!(
            parse_duration("+"),
            Err(ParseDurationError::MissingNumber { .. })
        ));
    }

    #[test]
    fn negative_durations_are_refused() {
        assert_eq!(
            parse_duration("-5s"),
            Err(ParseDurationError::Negative {
                input: "-5s".into()
            })
        );
    }

    #[test]
    fn number_without_unit_is_refused() {
        assert!(matches!(
            parse_duration("60"),
            Err(ParseDurationError::MissingUnit { .. })
        ));
        assert!(matches!(
            parse_duration("1h30"),
            Err(ParseDurationError::MissingUnit { .. })
        ));
    }

    #[test]
    fn unit_without_number_is_refused() {
        for input in ["s", ".s", "1h.m", "h1"] {
            assert!(
                matches!(
                    parse_duration(input),
                    Err(ParseDurationError::MissingNumber { .. })
                ),
                "{input:?}"
            );
        }
    }

    #[test]
    fn unknown_units_are_named_in_the_error() {
        assert_eq!(
            parse_duration("3d"),
            Err(ParseDurationError::UnknownUnit {
                input: "3d".into(),
                unit: "d".into()
            })
        );
        assert!(matches!(
            parse_duration("5 s"),
            Err(ParseDurationError::UnknownUnit { unit, .. }) if unit == " s"
        ));
        assert!(matches!(
            parse_duration("10S"),
            Err(ParseDurationError::UnknownUnit { unit, .. }) if unit == "S"
        ));
    }

    #[test]
    fn durations_beyond_go_range_overflow() {
        // Go's maximum is 2562047h47m16.854775807s.
        assert_eq!(
            parsed("2562047h47m16.854775807s"),
            Duration::from_nanos(i64::MAX.unsigned_abs())
        );
        for input in [
            "2562048h",
            "2562047h47m16.854775808s",
            "99999999999999999999999999999s",
        ] {
            assert!(
                matches!(
                    parse_duration(input),
                    Err(ParseDurationError::Overflow { .. })
                ),
                "{input:?}"
            );
        }
    }

    #[test]
    fn errors_read_as_lowercase_sentences() {
        let message = parse_duration("3d")
            .expect_err("3d is not a duration")
            .to_string();
        assert_eq!(
            message,
            "duration \"3d\" has unknown unit \"d\"; use one of ns, us, ms, s, m, h"
        );
    }

    #[test]
    fn formatting_matches_go_duration_string() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_nanos(7)), "7ns");
        assert_eq!(format_duration(Duration::from_micros(250)), "250µs");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(format_duration(Duration::from_secs(180)), "3m0s");
    }

    #[test]
    fn formatted_durations_parse_back() {
        for nanos in [
            1,
            999,
            1_000,
            1_500_000,
            999_999_999,
            60_000_000_000,
            5_400_123_456_789,
        ] {
            let duration = Duration::from_nanos(nanos);
            assert_eq!(parsed(&format_duration(duration)), duration);
        }
    }

    /// The schema pattern and the parser must accept the same strings, or the API server would
    /// admit specs the operator then rejects. The `regex` crate follows RE2, as Go's regexp does.
    #[test]
    fn schema_pattern_accepts_what_the_parser_accepts() {
        let pattern = regex::Regex::new(DURATION_PATTERN).expect("pattern compiles");
        let accepted = [
            "0", "0s", "10s", "1h30m", "1.5h", ".5s", "1.s", "500ms", "3µs", "3μs", "1m1ms",
        ];
        let refused = [
            "", "-5s", "+5s", "60", "5 s", "3d", "s", "1h30", "10S", "1.5", ".s",
        ];
        for input in accepted {
            assert!(pattern.is_match(input), "pattern should accept {input:?}");
            assert!(
                parse_duration(input).is_ok(),
                "parser should accept {input:?}"
            );
        }
        for input in refused {
            assert!(!pattern.is_match(input), "pattern should refuse {input:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(input in "\\PC{0,24}") {
            let _ = parse_duration(&input);
        }

        #[test]
        fn every_string_matching_the_pattern_parses(
            input in "(0|(([0-9]{1,5}(\\.[0-9]{0,12})?|\\.[0-9]{1,12})(ns|us|µs|μs|ms|s|m|h)){1,4})"
        ) {
            let pattern = regex::Regex::new(DURATION_PATTERN).expect("pattern compiles");
            proptest::prop_assert!(pattern.is_match(&input));
            proptest::prop_assert!(parse_duration(&input).is_ok(), "{input:?}");
        }
    }
}
