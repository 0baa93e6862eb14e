//! Resource quantities (`500m`, `1.5Gi`, `1e3`): parsing, comparison and the canonical
//! form upstream's `resource.Quantity` serializes to (`1000m` is stored as `1`,
//! `1536Mi` stays `1536Mi`, `0.5` becomes `500m`).
//!
//! Values are kept as a signed count of nano-units (10^-9), the finest precision a
//! suffix can express; finer fractions round up as upstream does.

use std::cmp::Ordering;

/// The message upstream's decoder gives for a malformed quantity.
pub const QUANTITY_FORMAT_MESSAGE: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// How a quantity was written, which decides how its canonical form is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityFormat {
    /// Powers of 1024: `Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`.
    BinarySI,
    /// Powers of 1000: `n`, `u`, `m`, none, `k`, `M`, `G`, `T`, `P`, `E`.
    DecimalSI,
    /// `1e3`, `5E-3`.
    DecimalExponent,
}

/// A parsed quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    nanos: i128,
    format: QuantityFormat,
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;

impl Quantity {
    pub const ZERO: Quantity = Quantity { nanos: 0, format: QuantityFormat::DecimalSI };

    /// Parses a quantity as the API accepts it; `None` when it is malformed or out of range.
    pub fn parse(s: &str) -> Option<Quantity> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        let (negative, rest) = match s.as_bytes()[0] {
            b'+' => (false, &s[1..]),
            b'-' => (true, &s[1..]),
            _ => (false, s),
        };
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(num_end);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        let digits = format!("{int_part}{frac_part}");
        let mantissa: i128 = digits.parse().ok()?;
        let frac_digits = i32::try_from(frac_part.len()).ok()?;

        // Value = mantissa * 10^(exp10 - frac_digits) * 2^exp2, counted in nanos.
        let (format, exp10, exp2) = parse_suffix(suffix)?;
        let mut exp = exp10 - frac_digits + 9;
        let mut value = mantissa.checked_mul(1i128.checked_shl(exp2)?)?;
        while exp > 0 {
            value = value.checked_mul(10)?;
            exp -= 1;
        }
        let mut inexact = false;
        while exp < 0 {
            if value % 10 != 0 {
                inexact = true;
            }
            value /= 10;
            exp += 1;
        }
        // Precision finer than a nano-unit rounds away from zero, like upstream.
        if inexact {
            value = value.checked_add(1)?;
        }
        Some(Quantity { nanos: if negative { -value } else { value }, format })
    }

    /// The value in milli-units, rounded up (CPU `500m` is 500).
    pub fn milli_value(&self) -> i128 {
        div_ceil(self.nanos, 1_000_000)
    }

    /// The value in whole units, rounded up (memory `1Ki` is 1024).
    pub fn value(&self) -> i128 {
        div_ceil(self.nanos, NANOS_PER_UNIT)
    }

    /// `self / divisor`, rounded up (how the downward API reports resources); `None`
    /// for a zero divisor.
    pub fn div_ceil(&self, divisor: &Quantity) -> Option<i128> {
        if divisor.nanos == 0 {
            return None;
        }
        let q = self.nanos / divisor.nanos;
        let r = self.nanos % divisor.nanos;
        Some(if r != 0 && (r > 0) == (divisor.nanos > 0) { q + 1 } else { q })
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    pub fn format(&self) -> QuantityFormat {
        self.format
    }

    /// The sum, in the format of `self` (upstream's `Add`).
    pub fn add(&self, other: &Quantity) -> Quantity {
        Quantity { nanos: self.nanos.saturating_add(other.nanos), format: self.format }
    }

    /// The canonical spelling upstream serializes.
    pub fn canonical(&self) -> String {
        if self.nanos == 0 {
            return "0".to_string();
        }
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        let whole = abs.is_multiple_of(NANOS_PER_UNIT as u128);
        let units = abs / NANOS_PER_UNIT as u128;
        // Binary spelling needs a whole number of at least 1024; otherwise decimal is used.
        if self.format == QuantityFormat::BinarySI && whole && units >= 1024 {
            const SUFFIXES: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
            let mut mantissa = units;
            let mut power = 0;
            while power < SUFFIXES.len() && mantissa.is_multiple_of(1024) {
                mantissa /= 1024;
                power += 1;
            }
            let suffix = if power == 0 { "" } else { SUFFIXES[power - 1] };
            return format!("{sign}{mantissa}{suffix}");
        }
        // Decimal: the largest multiple-of-3 exponent (from 10^-9) that keeps an integer mantissa.
        let mut mantissa = abs;
        let mut exp: i32 = -9;
        while exp < 18 && mantissa.is_multiple_of(1000) {
            mantissa /= 1000;
            exp += 3;
        }
        if self.format == QuantityFormat::DecimalExponent {
            return if exp == 0 { format!("{sign}{mantissa}") } else { format!("{sign}{mantissa}e{exp}") };
        }
        let suffix = match exp {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            _ => "E",
        };
        format!("{sign}{mantissa}{suffix}")
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    /// Orders by value only; the spelling format does not matter.
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b != 0 && a > 0 { q + 1 } else { q }
}

/// Splits a suffix into its format, power of ten and power of two.
fn parse_suffix(suffix: &str) -> Option<(QuantityFormat, i32, u32)> {
    use QuantityFormat::*;
    let found = match suffix {
        "" => (DecimalSI, 0, 0),
        "n" => (DecimalSI, -9, 0),
        "u" => (DecimalSI, -6, 0),
        "m" => (DecimalSI, -3, 0),
        "k" => (DecimalSI, 3, 0),
        "M" => (DecimalSI, 6, 0),
        "G" => (DecimalSI, 9, 0),
        "T" => (DecimalSI, 12, 0),
        "P" => (DecimalSI, 15, 0),
        "E" => (DecimalSI, 18, 0),
        "Ki" => (BinarySI, 0, 10),
        "Mi" => (BinarySI, 0, 20),
        "Gi" => (BinarySI, 0, 30),
        "Ti" => (BinarySI, 0, 40),
        "Pi" => (BinarySI, 0, 50),
        "Ei" => (BinarySI, 0, 60),
        other => {
            let exp = other.strip_prefix('e').or_else(|| other.strip_prefix('E'))?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let e: i32 = exp.parse().ok()?;
            // Beyond this the nano-unit count cannot be held; upstream's limit is similar.
            if !(-30..=27).contains(&e) {
                return None;
            }
            (DecimalExponent, e, 0)
        }
    };
    Some(found)
}

/// The canonical spelling of `s`, or `None` when it does not parse.
pub fn canonicalize(s: &str) -> Option<String> {
    Quantity::parse(s).map(|q| q.canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        canonicalize(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    #[test]
    fn parses_and_rejects() {
        assert!(Quantity::parse("100m").is_some());
        assert!(Quantity::parse("1.5Gi").is_some());
        assert!(Quantity::parse("1e3").is_some());
        assert!(Quantity::parse("-2").is_some());
        for bad in ["", "abc", "1.2.3", "10Mb", "1ee3", "m", "1e", "."] {
            assert!(Quantity::parse(bad).is_none(), "{bad} should not parse");
        }
    }

    #[test]
    fn canonical_forms_like_upstream() {
        assert_eq!(canon("1000m"), "1");
        assert_eq!(canon("1500m"), "1500m");
        assert_eq!(canon("0.5"), "500m");
        assert_eq!(canon("1024Mi"), "1Gi");
        assert_eq!(canon("1.5Gi"), "1536Mi");
        assert_eq!(canon("512Mi"), "512Mi");
        assert_eq!(canon("0.5Ki"), "512");
        assert_eq!(canon("12000"), "12k");
        assert_eq!(canon("1200"), "1200");
        assert_eq!(canon("1e3"), "1e3");
        assert_eq!(canon("0"), "0");
        assert_eq!(canon("0.1n"), "1n");
        assert_eq!(canon("-1500m"), "-1500m");
        assert_eq!(canon("10Gi"), "10Gi");
    }

    #[test]
    fn compares_by_value() {
        let a = Quantity::parse("1").unwrap();
        let b = Quantity::parse("1000m").unwrap();
        let c = Quantity::parse("1Ki").unwrap();
        assert_eq!(a.cmp(&b), Ordering::Equal);
        assert!(c > Quantity::parse("1k").unwrap());
        assert_eq!(Quantity::parse("250m").unwrap().milli_value(), 250);
        assert_eq!(Quantity::parse("1Mi").unwrap().value(), 1_048_576);
        assert_eq!(Quantity::parse("1m").unwrap().value(), 1);
    }
}
