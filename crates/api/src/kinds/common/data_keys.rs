//! Keys of ConfigMap and Secret data (also used by key selectors and projected items).

/// Upstream's total size limit of a ConfigMap's or Secret's data: 1 MiB.
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

const MAX_KEY_LENGTH: usize = 253;

/// Problems with `key` as a ConfigMap/Secret key (`[-._a-zA-Z0-9]+`, not `.`/`..`); empty when valid.
pub fn config_key_errors(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if key.len() > MAX_KEY_LENGTH {
        errs.push(format!("must be no more than {MAX_KEY_LENGTH} characters"));
    }
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) {
        errs.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_string());
    }
    if key == "." {
        errs.push("must not be '.'".to_string());
    } else if key == ".." {
        errs.push("must not be '..'".to_string());
    } else if key.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(config_key_errors("app.properties").is_empty());
        assert!(config_key_errors("KEY_1-x").is_empty());
        assert_eq!(config_key_errors("a/b").len(), 1);
        assert_eq!(config_key_errors(".."), vec!["must not be '..'".to_string()]);
        assert_eq!(config_key_errors("..a"), vec!["must not start with '..'".to_string()]);
        assert_eq!(config_key_errors(&"a".repeat(254)), vec!["must be no more than 253 characters".to_string()]);
    }
}
