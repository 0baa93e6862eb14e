//! The JSONPath subset CRD printer columns use: `.a.b`, `.a[0]`, `.a[*].b`,
//! `.a[?(@.type=="Ready")].status`, optionally wrapped in `{}`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter { path: Vec<String>, value: String, negate: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

impl JsonPath {
    pub fn parse(expr: &str) -> Result<Self, String> {
        let e = expr.trim();
        let e = e.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or(e).trim();
        let e = e.strip_prefix('$').unwrap_or(e);
        let mut steps = Vec::new();
        let bytes: Vec<char> = e.chars().collect();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                '.' => {
                    i += 1;
                    let start = i;
                    while i < bytes.len() && bytes[i] != '.' && bytes[i] != '[' {
                        i += 1;
                    }
                    let name: String = bytes[start..i].iter().collect();
                    if !name.is_empty() {
                        steps.push(Step::Field(name));
                    }
                }
                '[' => {
                    let close = find_close(&bytes, i).ok_or_else(|| format!("unterminated [ in {expr:?}"))?;
                    let inner: String = bytes[i + 1..close].iter().collect();
                    let inner = inner.trim();
                    if inner == "*" {
                        steps.push(Step::All);
                    } else if let Ok(n) = inner.parse::<usize>() {
                        steps.push(Step::Index(n));
                    } else if let Some(filter) = inner.strip_prefix("?(").and_then(|s| s.strip_suffix(')')) {
                        steps.push(parse_filter(filter).ok_or_else(|| format!("unsupported filter {inner:?}"))?);
                    } else if let Some(name) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                        steps.push(Step::Field(name.to_string()));
                    } else {
                        return Err(format!("unsupported JSONPath segment [{inner}] in {expr:?}"));
                    }
                    i = close + 1;
                }
                c => return Err(format!("unexpected {c:?} in JSONPath {expr:?}")),
            }
        }
        Ok(JsonPath { steps })
    }

    /// Every value the path selects.
    pub fn find<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        let mut cur = vec![root];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in cur {
                match step {
                    Step::Field(name) => next.extend(v.get(name)),
                    Step::Index(n) => next.extend(v.get(*n)),
                    Step::All => match v {
                        Value::Array(a) => next.extend(a.iter()),
                        Value::Object(m) => next.extend(m.values()),
                        _ => {}
                    },
                    Step::Filter { path, value, negate } => {
                        if let Value::Array(items) = v {
                            for item in items {
                                let got = path.iter().try_fold(item, |acc, k| acc.get(k));
                                let text = got.map(value_text);
                                if (text.as_deref() == Some(value.as_str())) != *negate {
                                    next.push(item);
                                }
                            }
                        }
                    }
                }
            }
            cur = next;
        }
        cur
    }
}

fn find_close(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (i, &c) in chars.iter().enumerate().skip(open) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '(') => depth += 1,
            (None, ']' | ')') => {
                depth -= 1;
                if depth == 0 && c == ']' {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_filter(f: &str) -> Option<Step> {
    let (lhs, rhs, negate) = if let Some((l, r)) = f.split_once("!=") {
        (l, r, true)
    } else {
        let (l, r) = f.split_once("==")?;
        (l, r, false)
    };
    let path: Vec<String> = lhs.trim().strip_prefix("@.")?.split('.').map(String::from).collect();
    let value = rhs.trim().trim_matches('"').trim_matches('\'').to_string();
    Some(Step::Filter { path, value, negate })
}

/// A value as a table cell prints it.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_filters() {
        let obj = json!({"spec": {"replicas": 3, "items": [{"n": "a"}, {"n": "b"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "X", "status": "False"}]}});
        let get = |p: &str| JsonPath::parse(p).unwrap().find(&obj).into_iter().map(value_text).collect::<Vec<_>>();
        assert_eq!(get(".spec.replicas"), vec!["3"]);
        assert_eq!(get("{.spec.items[*].n}"), vec!["a", "b"]);
        assert_eq!(get(".spec.items[1].n"), vec!["b"]);
        assert_eq!(get(r#".status.conditions[?(@.type=="Ready")].status"#), vec!["True"]);
        assert!(get(".nope").is_empty());
        assert!(JsonPath::parse(".a[").is_err());
    }
}
