//! The configuration reference in `docs/configuration.md`, rendered from the clap
//! definitions so that the documentation cannot drift from the CLI: a test compares
//! the generated block with the file and fails when they differ
//! (`K3RS_UPDATE_DOCS=1 cargo test -p k3rs configuration_reference` rewrites it).

use std::fmt::Write;

use clap::{Arg, ArgAction, Command};

/// Marks the start of the generated block in `docs/configuration.md`.
pub const BEGIN_MARKER: &str = "<!-- BEGIN GENERATED REFERENCE: edit src/cli/*.rs, then `K3RS_UPDATE_DOCS=1 cargo test -p k3rs configuration_reference` -->";
/// Marks its end.
pub const END_MARKER: &str = "<!-- END GENERATED REFERENCE -->";

/// Subcommands whose flags can also come from the configuration file.
const READS_CONFIG_FILE: &[&str] = &["server", "agent"];

/// The reference of every visible subcommand of `cli`, as Markdown.
pub fn render(cli: &Command) -> String {
    let mut out = String::new();
    let mut subcommands: Vec<&Command> = cli.get_subcommands().filter(|c| !c.is_hide_set()).collect();
    subcommands.sort_by_key(|c| c.get_name().to_string());
    for sub in subcommands {
        render_subcommand(&mut out, cli.get_name(), sub);
    }
    out
}

fn render_subcommand(out: &mut String, program: &str, sub: &Command) {
    let name = sub.get_name();
    let _ = writeln!(out, "### `{program} {name}`\n");
    if let Some(about) = sub.get_about() {
        let _ = writeln!(out, "{}\n", about.to_string().trim());
    }
    if READS_CONFIG_FILE.contains(&name) {
        let _ = writeln!(
            out,
            "Every flag can also be set in the configuration file (the key is the flag name without `--`).\n"
        );
    }
    let args: Vec<&Arg> = sub.get_arguments().filter(|a| !a.is_hide_set() && !is_builtin(a)).collect();
    let (positionals, flags): (Vec<&Arg>, Vec<&Arg>) = args.into_iter().partition(|a| a.is_positional());
    if !positionals.is_empty() {
        let _ = writeln!(out, "| argument | description |\n|---|---|");
        for arg in positionals {
            let _ = writeln!(out, "| `{}` | {} |", positional_name(arg), cell(&help(arg)));
        }
        out.push('\n');
    }
    if !flags.is_empty() {
        let _ = writeln!(out, "| flag | environment | default | description |\n|---|---|---|---|");
        for arg in flags {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                flag_names(arg),
                arg.get_env().map(|e| format!("`{}`", e.to_string_lossy())).unwrap_or_default(),
                default_value(arg),
                cell(&describe(arg)),
            );
        }
        out.push('\n');
    }
}

/// clap's own `--help` and `--version`.
fn is_builtin(arg: &Arg) -> bool {
    matches!(arg.get_id().as_str(), "help" | "version")
}

fn positional_name(arg: &Arg) -> String {
    let base = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map(|n| n.to_string())
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
    if matches!(arg.get_action(), ArgAction::Append) || arg.get_num_args().is_some_and(|n| n.max_values() > 1) {
        format!("{base}...")
    } else {
        base
    }
}

fn flag_names(arg: &Arg) -> String {
    let mut names = Vec::new();
    if let Some(long) = arg.get_long() {
        names.push(format!("`--{long}`"));
    }
    if let Some(short) = arg.get_short() {
        names.push(format!("`-{short}`"));
    }
    names.join(", ")
}

fn default_value(arg: &Arg) -> String {
    let defaults: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
    if !defaults.is_empty() {
        return format!("`{}`", defaults.join(","));
    }
    match arg.get_action() {
        ArgAction::SetTrue => "off".to_string(),
        _ => String::new(),
    }
}

fn help(arg: &Arg) -> String {
    arg.get_long_help().or_else(|| arg.get_help()).map(|h| h.to_string()).unwrap_or_default()
}

/// The help text plus how repeated values work, which the config file's list merging relies on.
fn describe(arg: &Arg) -> String {
    let mut text = help(arg);
    if matches!(arg.get_action(), ArgAction::Append) {
        text.push_str(if arg.get_value_delimiter().is_some() {
            " (repeatable; also comma-separated)"
        } else {
            " (repeatable)"
        });
    }
    text
}

/// A table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;")
}

/// Replaces the generated block of `doc` with `generated`; `None` when the markers are missing.
pub fn splice(doc: &str, generated: &str) -> Option<String> {
    let start = doc.find(BEGIN_MARKER)? + BEGIN_MARKER.len();
    let end = start + doc[start..].find(END_MARKER)?;
    Some(format!("{}\n\n{}{}", &doc[..start], generated, &doc[end..]))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    fn rendered() -> String {
        render(&Cli::command())
    }

    #[test]
    fn every_server_flag_is_listed_with_env_and_default() {
        let text = rendered();
        assert!(text.contains("### `k3rs server`"), "{text}");
        assert!(
            text.contains(
                "| `--https-listen-port` | `K3RS_HTTPS_LISTEN_PORT` | `6443` | HTTPS listen port of the API server |"
            ),
            "{text}"
        );
        assert!(text.contains("| `--data-dir`, `-d` | `K3RS_DATA_DIR` | `/var/lib/rancher/k3rs` |"), "{text}");
        assert!(text.contains("| `--disable-agent` | `K3RS_DISABLE_AGENT` | off |"), "{text}");
        assert!(text.contains("(repeatable; also comma-separated)"), "list flags are marked: {text}");
        assert!(!text.contains("`--help`"), "clap's own flags are left out: {text}");
    }

    #[test]
    fn splice_replaces_only_the_generated_block() {
        let doc = format!("intro\n{BEGIN_MARKER}\nold\n{END_MARKER}\nafter\n");
        let out = splice(&doc, "new\n").expect("markers found");
        assert_eq!(out, format!("intro\n{BEGIN_MARKER}\n\nnew\n{END_MARKER}\nafter\n"));
        assert!(splice("no markers", "x").is_none());
    }

    /// The documentation must match the CLI. Set `K3RS_UPDATE_DOCS=1` to rewrite it.
    #[test]
    fn configuration_reference_matches_the_cli() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
        let doc = std::fs::read_to_string(&path).expect("docs/configuration.md is readable");
        let expected = splice(&doc, &rendered()).expect("docs/configuration.md has the generated-reference markers");
        if expected == doc {
            return;
        }
        if std::env::var_os("K3RS_UPDATE_DOCS").is_some_and(|v| v == "1") {
            std::fs::write(&path, expected).expect("rewrite docs/configuration.md");
            return;
        }
        panic!(
            "docs/configuration.md does not match the CLI definitions; run \
             `K3RS_UPDATE_DOCS=1 cargo test -p k3rs configuration_reference` and commit the result"
        );
    }
}
