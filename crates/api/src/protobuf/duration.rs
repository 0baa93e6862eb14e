//! Go's `time.Duration` text form, which `metav1.Duration` uses in JSON
//! (`1h2m3s`, `1.5s`, `300ms`, `0s`).

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SECOND: u64 = 1_000_000_000;
const NANOS_PER_MINUTE: u64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: u64 = 60 * NANOS_PER_MINUTE;

/// Formats nanoseconds the way Go's `Duration.String` does.
pub fn format(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n == 0 {
        return "0s".into();
    }
    if n < NANOS_PER_MICRO {
        return format!("{sign}{n}ns");
    }
    if n < NANOS_PER_MILLI {
        return format!("{sign}{}µs", decimal(n, NANOS_PER_MICRO));
    }
    if n < NANOS_PER_SECOND {
        return format!("{sign}{}ms", decimal(n, NANOS_PER_MILLI));
    }
    let hours = n / NANOS_PER_HOUR;
    let minutes = (n % NANOS_PER_HOUR) / NANOS_PER_MINUTE;
    let seconds = decimal(n % NANOS_PER_MINUTE, NANOS_PER_SECOND);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{seconds}s")
    } else {
        format!("{sign}{seconds}s")
    }
}

/// `value / unit` with the fraction's trailing zeros trimmed.
fn decimal(value: u64, unit: u64) -> String {
    let whole = value / unit;
    let fraction = value % unit;
    if fraction == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Parses Go's duration syntax: an optional sign, then one or more
/// `<decimal><unit>` parts (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`); `0` alone is allowed.
pub fn parse(text: &str) -> Result<i64, String> {
    let invalid = || format!("invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(invalid)?;
        let (number, after) = rest.split_at(number_end);
        let unit_end = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => u128::from(NANOS_PER_MICRO),
            "ms" => u128::from(NANOS_PER_MILLI),
            "s" => u128::from(NANOS_PER_SECOND),
            "m" => u128::from(NANOS_PER_MINUTE),
            "h" => u128::from(NANOS_PER_HOUR),
            _ => return Err(invalid()),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| invalid())? };
        let mut part = whole.checked_mul(scale).ok_or_else(invalid)?;
        let mut place = scale;
        for digit in fraction.chars() {
            let d = u128::from(digit.to_digit(10).ok_or_else(invalid)?);
            place /= 10;
            part = part.checked_add(d * place).ok_or_else(invalid)?;
        }
        total = total.checked_add(part).ok_or_else(invalid)?;
        rest = next;
    }
    let max = if negative { u128::from(i64::MIN.unsigned_abs()) } else { i64::MAX as u128 };
    if total > max {
        return Err(invalid());
    }
    let magnitude = total as i128;
    Ok((if negative { -magnitude } else { magnitude }) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(format(0), "0s");
        assert_eq!(format(3_723 * 1_000_000_000), "1h2m3s");
        assert_eq!(format(3_600 * 1_000_000_000), "1h0m0s");
        assert_eq!(format(60 * 1_000_000_000), "1m0s");
        assert_eq!(format(1_500_000_000), "1.5s");
        assert_eq!(format(300_000_000), "300ms");
        assert_eq!(format(1_500), "1.5µs");
        assert_eq!(format(42), "42ns");
        assert_eq!(format(-90 * 1_000_000_000), "-1m30s");
        assert_eq!(format(i64::MIN), "-2562047h47m16.854775808s");
    }

    #[test]
    fn parses_go_syntax() {
        assert_eq!(parse("1h2m3s"), Ok(3_723 * 1_000_000_000));
        assert_eq!(parse("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse("300ms"), Ok(300_000_000));
        assert_eq!(parse("2µs"), Ok(2_000));
        assert_eq!(parse("-1m30s"), Ok(-90 * 1_000_000_000));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse(".5h"), Ok(1_800 * 1_000_000_000));
        for bad in ["", "1", "1x", "h", "1.2.3s", "-", "99999999999999999999h"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        for n in [0, 1, 999, 1_000_001, 61_000_000_000, 3_723_000_000_001, -5_000_000_000] {
            assert_eq!(parse(&format(n)), Ok(n));
        }
    }
}
