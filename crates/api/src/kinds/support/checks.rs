//! The small generic checks upstream validation repeats everywhere, with its
//! messages: non-negative numbers, immutable fields, int-or-percent values,
//! quantities, IP addresses, CIDRs and names checked against a field path.

use std::net::IpAddr;

use serde_json::Value;

use crate::validation::names;
use crate::validation::{FieldError, FieldPath};

/// upstream's `FieldImmutableErrorMsg`.
pub const IMMUTABLE: &str = "field is immutable";

/// `ValidateNonnegativeField`.
pub fn nonnegative(value: i64, path: &FieldPath) -> Option<FieldError> {
    (value < 0).then(|| FieldError::invalid(path, value, "must be greater than or equal to 0"))
}

/// `nonnegative` for an optional integer at a JSON pointer.
pub fn nonnegative_at(obj: &Value, pointer: &str, path: &FieldPath) -> Option<FieldError> {
    obj.pointer(pointer).and_then(Value::as_i64).and_then(|v| nonnegative(v, path))
}

/// `ValidateImmutableField`: absent and `null` are the same value.
pub fn immutable(new: Option<&Value>, old: Option<&Value>, path: &FieldPath) -> Option<FieldError> {
    let new = new.filter(|v| !v.is_null());
    let old = old.filter(|v| !v.is_null());
    (new != old).then(|| FieldError::invalid(path, new.cloned().unwrap_or(Value::Null), IMMUTABLE))
}

/// `immutable` for the field at a JSON pointer of two objects.
pub fn immutable_at(new: &Value, old: &Value, pointer: &str, path: &FieldPath) -> Option<FieldError> {
    immutable(new.pointer(pointer), old.pointer(pointer), path)
}

const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

fn percent_value(s: &str) -> Option<i64> {
    let digits = s.strip_suffix('%')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Upstream's Atoi fails on overflow and yields 0; saturate instead of panicking.
    Some(digits.parse::<i64>().unwrap_or(i64::MAX))
}

/// `ValidatePositiveIntOrPercent` (which accepts zero, despite its name).
pub fn positive_int_or_percent(value: &Value, path: &FieldPath) -> Vec<FieldError> {
    match value {
        Value::String(s) => {
            if percent_value(s).is_none() {
                vec![FieldError::invalid(path, value.clone(), PERCENT_MSG)]
            } else {
                Vec::new()
            }
        }
        Value::Number(n) => n.as_i64().and_then(|v| nonnegative(v, path)).into_iter().collect(),
        _ => vec![FieldError::invalid(path, value.clone(), "must be an integer or percentage (e.g '5%')")],
    }
}

/// `getIntOrPercentValue`: the number, or the percentage without its sign; strings
/// that are neither count as 0 like Go's `IntValue`.
pub fn int_or_percent_value(value: &Value) -> i64 {
    match value {
        Value::String(s) => percent_value(s).unwrap_or_else(|| s.parse().unwrap_or(0)),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// `IsNotMoreThan100Percent`.
pub fn not_more_than_100_percent(value: &Value, path: &FieldPath) -> Option<FieldError> {
    let pct = value.as_str().and_then(percent_value)?;
    (pct > 100).then(|| FieldError::invalid(path, value.clone(), "must not be greater than 100%"))
}

/// The sign of a resource quantity (`-1`, `0`, `1`), or `None` when it does not parse.
pub fn quantity_sign(q: &str) -> Option<i32> {
    let q = q.trim();
    let (negative, rest) = match q.as_bytes().first() {
        Some(b'-') => (true, &q[1..]),
        Some(b'+') => (false, &q[1..]),
        _ => (false, q),
    };
    let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    const SUFFIXES: &[&str] = &["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let exponent_ok = suffix.strip_prefix(['e', 'E']).is_some_and(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    if !SUFFIXES.contains(&suffix) && !exponent_ok {
        return None;
    }
    let zero = number.bytes().all(|b| b == b'0' || b == b'.');
    Some(if zero {
        0
    } else if negative {
        -1
    } else {
        1
    })
}

/// `IsValidPortNum`.
pub fn port_number(port: i64, path: &FieldPath) -> Option<FieldError> {
    (!(1..=65535).contains(&port)).then(|| FieldError::invalid(path, port, "must be between 1 and 65535, inclusive"))
}

/// `IsValidPortName` as field errors.
pub fn port_name(name: &str, path: &FieldPath) -> Vec<FieldError> {
    names::port_name(name).into_iter().map(|m| FieldError::invalid(path, name, m)).collect()
}

/// Invalid-value errors for each message of a name check.
pub fn name_errors(value: &str, path: &FieldPath, messages: Vec<String>) -> Vec<FieldError> {
    messages.into_iter().map(|m| FieldError::invalid(path, value, m)).collect()
}

/// `ValidateQualifiedName`.
pub fn qualified_name(value: &str, path: &FieldPath) -> Vec<FieldError> {
    name_errors(value, path, names::qualified_name(value))
}

/// `IsDNS1123Label` messages for the value at `path`.
pub fn dns1123_label(value: &str, path: &FieldPath) -> Vec<FieldError> {
    name_errors(value, path, names::dns1123_label(value))
}

/// `IsDNS1123Subdomain` messages for the value at `path`.
pub fn dns1123_subdomain(value: &str, path: &FieldPath) -> Vec<FieldError> {
    name_errors(value, path, names::dns1123_subdomain(value))
}

/// `IsValidPathSegmentName` messages for the value at `path`.
pub fn path_segment(value: &str, path: &FieldPath) -> Vec<FieldError> {
    name_errors(value, path, names::path_segment_name(value))
}

/// `IsWildcardDNS1123Subdomain`.
pub fn wildcard_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > names::DNS1123_SUBDOMAIN_MAX {
        errs.push(format!("must be no more than {} characters", names::DNS1123_SUBDOMAIN_MAX));
    }
    let ok = value.strip_prefix("*.").is_some_and(|rest| names::dns1123_subdomain(rest).is_empty());
    if !ok {
        errs.push("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string());
    }
    errs
}

/// An IP address as Go's sloppy parser reads it (IPv4-mapped forms included).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>().ok()
}

/// A CIDR as `(network address, prefix length)`.
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, prefix) = s.split_once('/')?;
    let ip = parse_ip(ip)?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = prefix.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((ip, prefix))
}

/// Whether `inner` lies inside the network `outer`.
pub fn cidr_contains(outer: (IpAddr, u8), ip: IpAddr) -> bool {
    match (outer.0, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let mask = if outer.1 == 0 { 0 } else { u32::MAX << (32 - outer.1) };
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let mask = if outer.1 == 0 { 0 } else { u128::MAX << (128 - outer.1) };
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

/// `IsValidCIDR`.
pub fn cidr(value: &str, path: &FieldPath) -> Option<FieldError> {
    parse_cidr(value)
        .is_none()
        .then(|| FieldError::invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
}

/// `ValidateNonSpecialIP`.
pub fn non_special_ip(value: &str, path: &FieldPath) -> Vec<FieldError> {
    let Some(ip) = parse_ip(value) else {
        return vec![FieldError::invalid(path, value, "must be a valid IP address")];
    };
    let mut errs = Vec::new();
    if ip.is_unspecified() {
        errs.push(FieldError::invalid(path, value, format!("may not be unspecified ({value})")));
    }
    if ip.is_loopback() {
        errs.push(FieldError::invalid(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)"));
    }
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    if link_local {
        errs.push(FieldError::invalid(path, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"));
    }
    let link_local_multicast = match ip {
        IpAddr::V4(v4) => v4.octets()[..3] == [224, 0, 0],
        IpAddr::V6(v6) => (v6.segments()[0] & 0xff0f) == 0xff02,
    };
    if link_local_multicast {
        errs.push(FieldError::invalid(
            path,
            value,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
    errs
}

/// `IsFullyQualifiedDomainName`.
pub fn fully_qualified_domain_name(value: &str, path: &FieldPath) -> Vec<FieldError> {
    if value.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let name = value.strip_suffix('.').unwrap_or(value);
    let errs = names::dns1123_subdomain(name);
    if !errs.is_empty() {
        return vec![FieldError::invalid(path, name, errs.join(","))];
    }
    if name.split('.').count() < 2 {
        return vec![FieldError::invalid(
            path,
            name,
            "should be a domain with at least two segments separated by dots",
        )];
    }
    for label in name.split('.') {
        let errs = names::dns1123_label(label);
        if !errs.is_empty() {
            return vec![FieldError::invalid(path, label, errs.join(","))];
        }
    }
    Vec::new()
}

/// `IsDomainPrefixedPath` (IngressClass controllers, Job `managedBy`).
pub fn domain_prefixed_path(value: &str, path: &FieldPath) -> Vec<FieldError> {
    if value.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let Some((host, rest)) = value.split_once('/').filter(|(h, r)| !h.is_empty() && !r.is_empty()) else {
        return vec![FieldError::invalid(path, value, "must be a domain-prefixed path (such as \"acme.io/foo\")")];
    };
    let mut errs = dns1123_subdomain(host, path);
    let path_ok = rest.chars().all(|c| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:".contains(c));
    if !path_ok {
        errs.push(FieldError::invalid(
            path,
            rest,
            "Invalid path (regex used for validation is '[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> FieldPath {
        FieldPath::root(s)
    }

    #[test]
    fn nonnegative_and_immutable() {
        assert!(nonnegative(0, &p("x")).is_none());
        let e = nonnegative(-1, &p("spec.replicas")).unwrap();
        assert_eq!(e.to_string(), "spec.replicas: Invalid value: -1: must be greater than or equal to 0");
        assert!(immutable(None, Some(&Value::Null), &p("x")).is_none());
        let e = immutable(Some(&json!("b")), Some(&json!("a")), &p("spec.x")).unwrap();
        assert_eq!(e.to_string(), "spec.x: Invalid value: \"b\": field is immutable");
    }

    #[test]
    fn int_or_percent_rules() {
        assert!(positive_int_or_percent(&json!("25%"), &p("x")).is_empty());
        assert!(positive_int_or_percent(&json!(3), &p("x")).is_empty());
        let e = positive_int_or_percent(&json!("25"), &p("m"));
        assert!(e[0].detail.starts_with("a valid percent string must be"));
        assert_eq!(positive_int_or_percent(&json!(-1), &p("m"))[0].detail, "must be greater than or equal to 0");
        assert_eq!(int_or_percent_value(&json!("25%")), 25);
        assert_eq!(int_or_percent_value(&json!("x")), 0);
        assert_eq!(int_or_percent_value(&json!(4)), 4);
        assert!(not_more_than_100_percent(&json!("100%"), &p("m")).is_none());
        assert_eq!(not_more_than_100_percent(&json!("101%"), &p("m")).unwrap().detail, "must not be greater than 100%");
    }

    #[test]
    fn quantity_signs() {
        assert_eq!(quantity_sign("100m"), Some(1));
        assert_eq!(quantity_sign("0"), Some(0));
        assert_eq!(quantity_sign("0.0Gi"), Some(0));
        assert_eq!(quantity_sign("-1"), Some(-1));
        assert_eq!(quantity_sign("1e3"), Some(1));
        assert_eq!(quantity_sign("abc"), None);
        assert_eq!(quantity_sign("1Xi"), None);
    }

    #[test]
    fn cidrs_and_ips() {
        assert!(cidr("10.0.0.0/8", &p("c")).is_none());
        assert!(cidr("10.0.0.0", &p("c")).is_some());
        assert!(cidr("10.0.0.0/33", &p("c")).is_some());
        let outer = parse_cidr("10.0.0.0/8").unwrap();
        assert!(cidr_contains(outer, "10.1.2.3".parse().unwrap()));
        assert!(!cidr_contains(outer, "11.1.2.3".parse().unwrap()));
        assert!(non_special_ip("10.0.0.1", &p("a")).is_empty());
        assert_eq!(
            non_special_ip("127.0.0.1", &p("a"))[0].detail,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)"
        );
        assert_eq!(non_special_ip("169.254.1.1", &p("a")).len(), 1);
        assert_eq!(non_special_ip("nope", &p("a"))[0].detail, "must be a valid IP address");
    }

    #[test]
    fn domain_names() {
        assert!(fully_qualified_domain_name("example.com", &p("h")).is_empty());
        assert!(fully_qualified_domain_name("example.com.", &p("h")).is_empty());
        assert_eq!(
            fully_qualified_domain_name("localhost", &p("h"))[0].detail,
            "should be a domain with at least two segments separated by dots"
        );
        assert!(domain_prefixed_path("k8s.io/ingress-nginx", &p("c")).is_empty());
        assert_eq!(
            domain_prefixed_path("nginx", &p("c"))[0].detail,
            "must be a domain-prefixed path (such as \"acme.io/foo\")"
        );
        assert!(wildcard_dns1123_subdomain("*.example.com").is_empty());
        assert!(!wildcard_dns1123_subdomain("a.*.example.com").is_empty());
    }
}
