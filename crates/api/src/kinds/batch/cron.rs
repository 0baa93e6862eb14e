//! Cron schedules as CronJobs accept them, with the behaviour and messages of the
//! parser upstream uses (robfig/cron v3 `ParseStandard`): five fields (minute, hour,
//! day of month, month, day of week) with lists, ranges, steps, `*`/`?` and month and
//! weekday names; the descriptors `@yearly`, `@annually`, `@monthly`, `@weekly`,
//! `@daily`, `@midnight`, `@hourly` and `@every <duration>`; an optional `TZ=`/
//! `CRON_TZ=` prefix. [`CronSchedule::next_after`] gives the next activation.

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned, civil};

/// Set on a field written as `*` or `?` (without a step), which changes how day of
/// month and day of week combine.
const STAR_BIT: u64 = 1 << 63;

#[derive(Debug, Clone, Copy)]
struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTES: Bounds = Bounds { min: 0, max: 59, names: &[] };
const HOURS: Bounds = Bounds { min: 0, max: 23, names: &[] };
const DOM: Bounds = Bounds { min: 1, max: 31, names: &[] };
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[("sun", 0), ("mon", 1), ("tue", 2), ("wed", 3), ("thu", 4), ("fri", 5), ("sat", 6)],
};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    kind: ScheduleKind,
    /// The zone named by a `TZ=`/`CRON_TZ=` prefix, which overrides the caller's.
    location: Option<TimeZone>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ScheduleKind {
    /// Bit sets of allowed values per field (seconds are always `0`).
    Fields { minute: u64, hour: u64, dom: u64, month: u64, dow: u64 },
    /// `@every <duration>`: fixed delay in whole seconds.
    Every { seconds: i64 },
}

/// Parses a schedule; the error is upstream's message (`expected exactly 5 fields, found 1: [x]`).
pub fn parse(spec: &str) -> Result<CronSchedule, String> {
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    let mut spec = spec;
    let mut location = None;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let eq = spec.find('=').unwrap_or(0);
        let end = spec.find(' ').unwrap_or(spec.len());
        let name = &spec[eq + 1..end];
        location = Some(load_location(name).map_err(|e| format!("provided bad location {name}: {e}"))?);
        spec = spec[end..].trim();
    }
    if spec.starts_with('@') {
        return parse_descriptor(spec).map(|kind| CronSchedule { kind, location });
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("expected exactly 5 fields, found {}: [{}]", fields.len(), fields.join(" ")));
    }
    let kind = ScheduleKind::Fields {
        minute: field_bits(fields[0], MINUTES)?,
        hour: field_bits(fields[1], HOURS)?,
        dom: field_bits(fields[2], DOM)?,
        month: field_bits(fields[3], MONTHS)?,
        dow: field_bits(fields[4], DOW)?,
    };
    Ok(CronSchedule { kind, location })
}

/// Go's `time.LoadLocation`: `""` and `UTC` are UTC; names are looked up exactly
/// (the zone database is case-sensitive on Linux).
pub fn load_location(name: &str) -> Result<TimeZone, String> {
    if name.is_empty() || name == "UTC" {
        return Ok(TimeZone::UTC);
    }
    if name == "Local" {
        return Ok(TimeZone::system());
    }
    match TimeZone::get(name) {
        Ok(tz) if tz.iana_name().is_none_or(|n| n == name) => Ok(tz),
        _ => Err(format!("unknown time zone {name}")),
    }
}

fn all(bounds: Bounds) -> u64 {
    bits(bounds.min, bounds.max, 1) | STAR_BIT
}

fn parse_descriptor(descriptor: &str) -> Result<ScheduleKind, String> {
    let first = |b: Bounds| 1u64 << b.min;
    let kind = match descriptor {
        "@yearly" | "@annually" => ScheduleKind::Fields {
            minute: first(MINUTES),
            hour: first(HOURS),
            dom: first(DOM),
            month: first(MONTHS),
            dow: all(DOW),
        },
        "@monthly" => ScheduleKind::Fields {
            minute: first(MINUTES),
            hour: first(HOURS),
            dom: first(DOM),
            month: all(MONTHS),
            dow: all(DOW),
        },
        "@weekly" => ScheduleKind::Fields {
            minute: first(MINUTES),
            hour: first(HOURS),
            dom: all(DOM),
            month: all(MONTHS),
            dow: first(DOW),
        },
        "@daily" | "@midnight" => ScheduleKind::Fields {
            minute: first(MINUTES),
            hour: first(HOURS),
            dom: all(DOM),
            month: all(MONTHS),
            dow: all(DOW),
        },
        "@hourly" => ScheduleKind::Fields {
            minute: first(MINUTES),
            hour: all(HOURS),
            dom: all(DOM),
            month: all(MONTHS),
            dow: all(DOW),
        },
        other => {
            let Some(duration) = other.strip_prefix("@every ") else {
                return Err(format!("unrecognized descriptor: {other}"));
            };
            let nanos = parse_go_duration(duration).map_err(|e| format!("failed to parse duration {other}: {e}"))?;
            // Delays under a second become a second; fractions of a second are dropped.
            let seconds = (nanos / 1_000_000_000).max(1);
            ScheduleKind::Every { seconds: i64::try_from(seconds).unwrap_or(i64::MAX) }
        }
    };
    Ok(kind)
}

fn field_bits(field: &str, bounds: Bounds) -> Result<u64, String> {
    let mut out = 0;
    // Empty list entries are skipped, as Go's FieldsFunc does.
    for expr in field.split(',').filter(|e| !e.is_empty()) {
        out |= range_bits(expr, bounds)?;
    }
    Ok(out)
}

fn range_bits(expr: &str, bounds: Bounds) -> Result<u64, String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end, mut extra);
    if low_and_high[0] == "*" || low_and_high[0] == "?" {
        start = bounds.min;
        end = bounds.max;
        extra = STAR_BIT;
    } else {
        start = int_or_name(low_and_high[0], bounds)?;
        end = match low_and_high.len() {
            1 => start,
            2 => int_or_name(low_and_high[1], bounds)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        extra = 0;
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = must_parse_int(range_and_step[1])?;
            // "N/step" means "N-max/step".
            if single {
                end = bounds.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < bounds.min {
        return Err(format!("beginning of range ({start}) below minimum ({}): {expr}", bounds.min));
    }
    if end > bounds.max {
        return Err(format!("end of range ({end}) above maximum ({}): {expr}", bounds.max));
    }
    if start > end {
        return Err(format!("beginning of range ({start}) beyond end of range ({end}): {expr}"));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(bits(start, end, step) | extra)
}

fn bits(min: u32, max: u32, step: u32) -> u64 {
    (min..=max).step_by(step as usize).fold(0, |acc, i| acc | (1u64 << i))
}

fn int_or_name(expr: &str, bounds: Bounds) -> Result<u32, String> {
    let lower = expr.to_ascii_lowercase();
    if let Some((_, v)) = bounds.names.iter().find(|(n, _)| *n == lower) {
        return Ok(*v);
    }
    must_parse_int(expr)
}

/// Go's `strconv.Atoi` with robfig's non-negative rule and messages.
fn must_parse_int(expr: &str) -> Result<u32, String> {
    let digits = expr.strip_prefix(['+', '-']).unwrap_or(expr);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: invalid syntax"));
    }
    let num: i64 = expr
        .parse()
        .map_err(|_| format!("failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: value out of range"))?;
    if num < 0 {
        return Err(format!("negative number ({num}) not allowed: {expr}"));
    }
    // Anything this large is out of every field's range; keep it representable.
    Ok(u32::try_from(num).unwrap_or(u32::MAX))
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn parse_go_duration(s: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let int_part = &rest[..int_end];
        rest = &rest[int_end..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_end = after_dot.find(|c: char| !c.is_ascii_digit()).unwrap_or(after_dot.len());
            frac_part = &after_dot[..frac_end];
            rest = &after_dot[frac_end..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_end = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {s:?}"));
        }
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {s:?}")),
        };
        let whole: i128 = if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| invalid())? };
        let mut value = whole.checked_mul(scale).ok_or_else(invalid)?;
        let mut frac_scale = scale;
        for digit in frac_part.bytes().take(30) {
            frac_scale /= 10;
            value += i128::from(digit - b'0') * frac_scale;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i128::from(i64::MAX) {
            return Err(invalid());
        }
    }
    Ok(if negative { -total } else { total })
}

impl CronSchedule {
    /// The first activation strictly after `after`, evaluated in `tz` unless the
    /// schedule names its own zone. `None` when none falls within five years.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        match self.kind {
            ScheduleKind::Every { seconds } => Timestamp::from_second(after.as_second().checked_add(seconds)?).ok(),
            ScheduleKind::Fields { minute, hour, dom, month, dow } => {
                let tz = self.location.as_ref().unwrap_or(tz);
                next_fields(after, tz, [minute, hour, dom, month, dow])
            }
        }
    }
}

fn at(tz: &TimeZone, y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Option<Zoned> {
    tz.to_zoned(civil::date(y, mo, d).at(h, mi, 0, 0)).ok()
}

fn has(bits: u64, v: i64) -> bool {
    (0..64).contains(&v) && bits & (1u64 << v) != 0
}

/// robfig's `SpecSchedule.Next`, at minute resolution (the seconds field is `0`).
fn next_fields(after: Timestamp, tz: &TimeZone, [minute, hour, dom, month, dow]: [u64; 5]) -> Option<Timestamp> {
    let day_matches = |t: &Zoned| {
        let dom_match = has(dom, i64::from(t.day()));
        let dow_match = has(dow, i64::from(t.weekday().to_sunday_zero_offset()));
        if dom & STAR_BIT != 0 || dow & STAR_BIT != 0 { dom_match && dow_match } else { dom_match || dow_match }
    };
    // Start at the next whole second; activations are at second 0 of a minute.
    let mut t = Timestamp::from_second(after.as_second().checked_add(1)?).ok()?.to_zoned(tz.clone());
    let year_limit = t.year() + 5;
    let mut added = false;
    'wrap: loop {
        if t.year() > year_limit {
            return None;
        }
        while !has(month, i64::from(t.month())) {
            if !added {
                added = true;
                t = at(tz, t.year(), t.month(), 1, 0, 0)?;
            }
            t = t.checked_add(1.month()).ok()?;
            if t.month() == 1 {
                continue 'wrap;
            }
        }
        while !day_matches(&t) {
            if !added {
                added = true;
                t = at(tz, t.year(), t.month(), t.day(), 0, 0)?;
            }
            t = t.checked_add(1.day()).ok()?;
            // A DST change can move midnight; go back to it.
            let h = i64::from(t.hour());
            if h != 0 {
                t = if h > 12 { t.checked_add((24 - h).hours()).ok()? } else { t.checked_sub(h.hours()).ok()? };
            }
            if t.day() == 1 {
                continue 'wrap;
            }
        }
        while !has(hour, i64::from(t.hour())) {
            if !added {
                added = true;
                t = at(tz, t.year(), t.month(), t.day(), t.hour(), 0)?;
            }
            t = t.checked_add(1.hour()).ok()?;
            if t.hour() == 0 {
                continue 'wrap;
            }
        }
        while !has(minute, i64::from(t.minute())) {
            if !added {
                added = true;
                t = t.with().second(0).subsec_nanosecond(0).build().ok()?;
            }
            t = t.checked_add(1.minute()).ok()?;
            if t.minute() == 0 {
                continue 'wrap;
            }
        }
        if t.second() != 0 || t.subsec_nanosecond() != 0 {
            if !added {
                added = true;
            }
            // Advance to the next minute boundary and re-check the fields.
            t = t.with().second(0).subsec_nanosecond(0).build().ok()?.checked_add(1.minute()).ok()?;
            continue 'wrap;
        }
        return Some(t.timestamp());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(spec: &str, after: &str) -> String {
        let s = parse(spec).unwrap();
        let t = s.next_after(after.parse().unwrap(), &TimeZone::UTC).unwrap();
        t.to_string()
    }

    #[test]
    fn accepts_standard_forms() {
        for spec in [
            "* * * * *",
            "*/5 * * * *",
            "0 0 * * 0",
            "0 9-17/2 * * MON-fri",
            "30 4 1,15 * *",
            "0 0 1 jan,jul ?",
            "5/15 * * * *",
            "@hourly",
            "@daily",
            "@midnight",
            "@weekly",
            "@monthly",
            "@yearly",
            "@annually",
            "@every 1h30m",
            "TZ=Europe/Paris 0 6 * * *",
            "CRON_TZ=UTC 0 6 * * *",
        ] {
            assert!(parse(spec).is_ok(), "{spec}: {:?}", parse(spec).err());
        }
    }

    #[test]
    fn rejects_with_upstream_messages() {
        let err = |s: &str| parse(s).unwrap_err();
        assert_eq!(err(""), "empty spec string");
        assert_eq!(err("* * * *"), "expected exactly 5 fields, found 4: [* * * *]");
        assert_eq!(err("0 0 0 0 0 0"), "expected exactly 5 fields, found 6: [0 0 0 0 0 0]");
        assert_eq!(err("60 * * * *"), "end of range (60) above maximum (59): 60");
        assert_eq!(err("* * 0 * *"), "beginning of range (0) below minimum (1): 0");
        assert_eq!(err("* * * * 7"), "end of range (7) above maximum (6): 7");
        assert_eq!(err("5-1 * * * *"), "beginning of range (5) beyond end of range (1): 5-1");
        assert_eq!(err("*/0 * * * *"), "step of range should be a positive number: */0");
        assert_eq!(err("1-2-3 * * * *"), "too many hyphens: 1-2-3");
        assert_eq!(err("*/2/3 * * * *"), "too many slashes: */2/3");
        assert_eq!(err("x * * * *"), "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax");
        assert_eq!(err("* * * foo *"), "failed to parse int from foo: strconv.Atoi: parsing \"foo\": invalid syntax");
        assert_eq!(err("@fortnightly"), "unrecognized descriptor: @fortnightly");
        assert_eq!(err("@every 5x"), "failed to parse duration @every 5x: time: unknown unit \"x\" in duration \"5x\"");
        assert_eq!(err("@every 5"), "failed to parse duration @every 5: time: missing unit in duration \"5\"");
        assert_eq!(
            err("TZ=Mars/Olympus * * * * *"),
            "provided bad location Mars/Olympus: unknown time zone Mars/Olympus"
        );
    }

    #[test]
    fn next_activation() {
        assert_eq!(next("*/15 * * * *", "2024-03-01T10:07:30Z"), "2024-03-01T10:15:00Z");
        assert_eq!(next("*/15 * * * *", "2024-03-01T10:15:00Z"), "2024-03-01T10:30:00Z");
        assert_eq!(next("0 9 * * 1-5", "2024-03-01T10:00:00Z"), "2024-03-04T09:00:00Z");
        assert_eq!(next("0 0 29 2 *", "2024-03-01T00:00:00Z"), "2028-02-29T00:00:00Z");
        assert_eq!(next("@hourly", "2024-03-01T10:59:59Z"), "2024-03-01T11:00:00Z");
        assert_eq!(next("@every 90s", "2024-03-01T10:00:00Z"), "2024-03-01T10:01:30Z");
        // Day of month and day of week combine with OR when neither is a star.
        assert_eq!(next("0 0 1 * 1", "2024-03-01T00:00:00Z"), "2024-03-04T00:00:00Z");
        let paris = parse("TZ=Europe/Paris 0 6 * * *").unwrap();
        let t = paris.next_after("2024-01-10T00:00:00Z".parse().unwrap(), &TimeZone::UTC).unwrap();
        assert_eq!(t.to_string(), "2024-01-10T05:00:00Z");
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration(""), Err("time: invalid duration \"\"".to_string()));
    }

    #[test]
    fn locations() {
        assert!(load_location("America/New_York").is_ok());
        assert!(load_location("UTC").is_ok());
        assert_eq!(load_location("america/new_york").unwrap_err(), "unknown time zone america/new_york");
    }
}
