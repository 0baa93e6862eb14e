//! JSON pointers (RFC 6901): `/spec/containers/0/image`, with `~1` for `/`
//! and `~0` for `~` inside a segment.

/// A parsed pointer: its unescaped segments (empty for the whole document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer(pub Vec<String>);

impl Pointer {
    pub fn parse(text: &str) -> Result<Pointer, String> {
        if text.is_empty() {
            return Ok(Pointer(Vec::new()));
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!("invalid JSON pointer {text:?}: it must be empty or start with \"/\""));
        };
        rest.split('/')
            .map(|raw| unescape(raw).ok_or_else(|| format!("invalid escape in JSON pointer {text:?}")))
            .collect::<Result<_, _>>()
            .map(Pointer)
    }

    /// The parent pointer and the last segment, unless this is the root.
    pub fn split_last(&self) -> Option<(Pointer, &str)> {
        let (last, parent) = self.0.split_last()?;
        Some((Pointer(parent.to_vec()), last.as_str()))
    }

    /// Whether `self` lies strictly inside `other`.
    pub fn is_inside(&self, other: &Pointer) -> bool {
        self.0.len() > other.0.len() && self.0.starts_with(&other.0)
    }
}

/// `~1` is `/`, `~0` is `~`; any other `~` sequence is invalid.
fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// An array index segment: digits without leading zeros.
pub fn parse_index(segment: &str) -> Option<usize> {
    let digits_only = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (segment.len() > 1 && segment.starts_with('0')) {
        return None;
    }
    segment.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_unescapes() {
        assert_eq!(Pointer::parse("").unwrap(), Pointer(vec![]));
        assert_eq!(Pointer::parse("/").unwrap(), Pointer(vec!["".into()]));
        assert_eq!(
            Pointer::parse("/metadata/annotations/a~1b~0c").unwrap(),
            Pointer(vec!["metadata".into(), "annotations".into(), "a/b~c".into()])
        );
        assert!(Pointer::parse("spec").is_err());
        assert!(Pointer::parse("/a~2").is_err());
        assert!(Pointer::parse("/a~").is_err());
    }

    #[test]
    fn indexes() {
        assert_eq!(parse_index("0"), Some(0));
        assert_eq!(parse_index("12"), Some(12));
        for bad in ["01", "-", "", "1a", "-1"] {
            assert_eq!(parse_index(bad), None, "{bad}");
        }
    }
}
