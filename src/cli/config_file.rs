//! The configuration file, as K3s reads it: a YAML map whose keys are flag names
//! (`tls-san: [a, b]`, `disable-agent: true`), plus drop-ins in `config.yaml.d/`.
//! Values become command-line arguments placed before the real ones; a flag given
//! on the command line or through its environment variable wins over the file,
//! and list flags from the file and the drop-ins add up.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

pub const DEFAULT_CONFIG: &str = "/etc/rancher/k3rs/config.yaml";

/// Keys of the configuration file that `k3rs images` reads (it shares the agent's file).
const IMAGES_KEYS: &[&str] = &["data-dir", "container-runtime-endpoint"];

/// The arguments with the configuration file's settings inserted after the subcommand.
pub fn args_with_config(args: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    // Only the subcommand itself counts: `k3rs kubectl logs server` must not pick up
    // the server's configuration.
    let sub_index = 1;
    if !args.get(sub_index).is_some_and(|a| a == "server" || a == "agent" || a == "images") {
        return Ok(args);
    }
    let only_keys = (args[sub_index] == "images").then_some(IMAGES_KEYS);
    let explicit = config_path_from_args(&args[sub_index + 1..])
        .or_else(|| std::env::var_os("K3RS_CONFIG_FILE").map(PathBuf::from));
    let path = explicit.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let mut files = Vec::new();
    if path.exists() {
        files.push(path.clone());
    } else if explicit.is_some() {
        bail!("configuration file {} does not exist", path.display());
    }
    files.extend(drop_ins(&path));
    if files.is_empty() {
        return Ok(args);
    }
    let given: Vec<String> = args[sub_index + 1..].iter().filter_map(|a| a.to_str()).map(String::from).collect();
    let mut injected = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let mut file_args = config_args(&text, &given).with_context(|| format!("in {}", file.display()))?;
        if let Some(keys) = only_keys {
            file_args
                .retain(|a| keys.iter().any(|k| a.strip_prefix("--").is_some_and(|f| f.split('=').next() == Some(*k))));
        }
        injected.extend(file_args);
    }
    let mut out = args[..=sub_index].to_vec();
    out.extend(injected.into_iter().map(OsString::from));
    out.extend(args[sub_index + 1..].iter().cloned());
    Ok(out)
}

fn config_path_from_args(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().filter_map(|a| a.to_str());
    while let Some(a) = it.next() {
        if a == "--config" || a == "-c" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    None
}

/// The configuration file (when it exists) followed by its drop-ins, in the order they apply.
pub fn config_files(config: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if config.exists() {
        files.push(config.to_path_buf());
    }
    files.extend(drop_ins(config));
    files
}

fn drop_ins(config: &Path) -> Vec<PathBuf> {
    let dir = PathBuf::from(format!("{}.d", config.display()));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn env_name(flag: &str) -> String {
    format!("K3RS_{}", flag.replace('-', "_").to_uppercase())
}

/// Flags that take several values; the file's values add to the command line's.
const LIST_FLAGS: &[&str] = &["tls-san", "node-label", "node-taint", "kube-apiserver-arg", "disable"];

/// The arguments one configuration document stands for.
pub fn config_args(text: &str, given: &[String]) -> anyhow::Result<Vec<String>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let doc: Value = serde_saphyr::from_str(text).context("not valid YAML")?;
    let Value::Object(map) = doc else { bail!("the configuration must be a map of flag names to values") };
    let mut out = Vec::new();
    for (key, value) in map {
        let flag = key.trim_end_matches('+').to_string();
        let is_list = LIST_FLAGS.contains(&flag.as_str()) || key.ends_with('+');
        let on_command_line = given.iter().any(|a| a == &format!("--{flag}") || a.starts_with(&format!("--{flag}=")));
        if !is_list && (on_command_line || std::env::var_os(env_name(&flag)).is_some()) {
            continue;
        }
        match value {
            Value::Bool(true) => out.push(format!("--{flag}")),
            Value::Bool(false) | Value::Null => {}
            Value::Array(items) => {
                for item in items {
                    out.push(format!("--{flag}={}", scalar(&item)?));
                }
            }
            other => out.push(format!("--{flag}={}", scalar(&other)?)),
        }
    }
    Ok(out)
}

fn scalar(v: &Value) -> anyhow::Result<String> {
    Ok(match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => bail!("unsupported value {other}: use a string, number, boolean or list"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_keys_become_flags() {
        let args = config_args(
            "https-listen-port: 7443\ntls-san:\n  - a.example\n  - 10.0.0.1\ndisable-agent: true\ndebug: false\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            args,
            vec!["--disable-agent", "--https-listen-port=7443", "--tls-san=a.example", "--tls-san=10.0.0.1"]
        );
    }

    #[test]
    fn command_line_wins_over_file() {
        let given = vec!["--https-listen-port".to_string(), "8443".to_string()];
        let args = config_args("https-listen-port: 7443\ntls-san: [x]\n", &given).unwrap();
        assert_eq!(args, vec!["--tls-san=x"]);
    }

    #[test]
    fn only_the_subcommand_position_reads_the_file() {
        let args: Vec<OsString> = ["k3rs", "kubectl", "logs", "server", "--config=/nonexistent/k3rs.yaml"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(args_with_config(args.clone()).unwrap(), args);
        let server: Vec<OsString> =
            ["k3rs", "server", "--config=/nonexistent/k3rs.yaml"].iter().map(OsString::from).collect();
        assert!(args_with_config(server).is_err());
    }

    #[test]
    fn bad_documents_are_errors() {
        assert!(config_args("- a\n- b\n", &[]).is_err());
        assert!(config_args("key: {a: 1}\n", &[]).is_err());
    }
}
