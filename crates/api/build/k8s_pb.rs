//! Derives the protobuf message table from k8s-pb's prost-generated sources.
//!
//! prost keeps each field's tag and wire kind only in its `#[prost(..)]`
//! attribute, and k8s-pb ships no descriptors, so this scanner reads the
//! generated `mod.rs` files and writes `k8s_pb_messages.rs` into `OUT_DIR`:
//! every message with its fields (tag, Rust name without `r#`, kind, whether
//! repeated), and the `(apiVersion, kind)` of every type k8s-pb marks as a
//! resource. Message names are `k8s.io.` + the module path + the Rust struct
//! name (`k8s.io.api.apps.v1.Deployment`); prost renames acronyms
//! (`JSONSchemaProps` -> `JsonSchemaProps`), so the runtime matches names
//! case-insensitively where they meet upstream's spelling.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One scanned field.
struct Field {
    tag: u32,
    name: String,
    /// `Kind::…` expression for the generated table.
    kind: String,
    repeated: bool,
}

/// Scans every k8s-pb source file under `src` and writes the table.
pub fn write_messages(out: &Path, src: &Path) {
    let mut files = Vec::new();
    super::collect_rs_files(src, &mut files);
    files.sort();
    let mut messages: BTreeMap<String, Vec<Field>> = BTreeMap::new();
    let mut resources: Vec<(String, String, String)> = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(src).expect("file under src");
        if rel.file_name().is_none_or(|n| n != "mod.rs") {
            continue;
        }
        let module: Vec<String> = rel
            .parent()
            .expect("module dir")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let text = std::fs::read_to_string(file).expect("read k8s-pb source");
        scan_module(&text, &module, &mut messages, &mut resources);
    }
    assert!(messages.len() > 1000, "k8s-pb messages not found under {}", src.display());
    assert!(messages.contains_key("k8s.io.api.apps.v1.Deployment"), "k8s-pb lacks apps/v1 Deployment");
    for (name, fields) in &messages {
        for field in fields {
            for target in message_refs(&field.kind) {
                assert!(messages.contains_key(target), "{name}.{}: unknown message {target}", field.name);
            }
        }
    }
    std::fs::write(out.join("k8s_pb_messages.rs"), render(&messages, &resources)).expect("write k8s-pb table");
}

fn scan_module(
    text: &str,
    module: &[String],
    messages: &mut BTreeMap<String, Vec<Field>>,
    resources: &mut Vec<(String, String, String)>,
) {
    let mut lines = text.lines().peekable();
    let mut current: Option<(String, Vec<Field>)> = None;
    let mut resource: Option<(String, Option<String>, Option<String>)> = None;
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        let inline_module = trimmed.starts_with("pub mod ") && trimmed.ends_with('{');
        assert!(!inline_module, "inline modules in k8s-pb are not supported: {module:?}");
        if let Some(rest) = line.strip_prefix("pub struct ") {
            if let Some(empty) = rest.strip_suffix("{}") {
                messages.insert(full_name(module, empty.trim()), Vec::new());
                continue;
            }
            let name = rest.strip_suffix('{').unwrap_or_else(|| panic!("unexpected struct form: {line}")).trim();
            current = Some((full_name(module, name), Vec::new()));
        } else if line == "}" {
            if let Some((name, fields)) = current.take() {
                messages.insert(name, fields);
            }
            if let Some((rust_name, Some(api_version), Some(kind))) = resource.take() {
                resources.push((api_version, kind, full_name(module, &rust_name)));
            }
        } else if let Some(rest) = line.strip_prefix("impl crate::Resource for ") {
            resource = Some((rest.trim_end_matches(" {").trim().to_string(), None, None));
        } else if let Some((_, api_version, kind)) = resource.as_mut() {
            if let Some(v) = const_str(trimmed, "API_VERSION") {
                *api_version = Some(v);
            } else if let Some(v) = const_str(trimmed, "KIND") {
                *kind = Some(v);
            }
        } else if trimmed.starts_with("#[prost(")
            && let Some((_, fields)) = current.as_mut()
        {
            let mut attr = trimmed.to_string();
            while !attr.ends_with(")]") {
                attr.push_str(lines.next().expect("attribute continues").trim());
            }
            let mut decl = String::new();
            while !decl_complete(&decl) {
                let next = lines.next().expect("field declaration follows its attribute");
                if next.trim_start().starts_with("#[") {
                    continue;
                }
                decl.push_str(next.trim());
            }
            fields.push(parse_field(&attr, &decl, module));
        }
    }
    assert!(current.is_none(), "unterminated struct in {module:?}");
}

/// `const KIND: &'static str = "Deployment";` -> `Deployment`.
fn const_str(line: &str, name: &str) -> Option<String> {
    let rest = line.strip_prefix("const ")?.strip_prefix(name)?.strip_prefix(':')?;
    let value = rest.split_once('=')?.1.trim().trim_end_matches(';').trim();
    Some(value.trim_matches('"').to_string())
}

fn decl_complete(decl: &str) -> bool {
    decl.ends_with(',') && decl.matches('<').count() == decl.matches('>').count()
}

fn parse_field(attr: &str, decl: &str, module: &[String]) -> Field {
    let inner = attr.strip_prefix("#[prost(").and_then(|a| a.strip_suffix(")]")).expect("prost attribute");
    let args = split_args(inner);
    let decl = decl.strip_prefix("pub ").expect("pub field");
    let (name, ty) = decl.split_once(':').expect("field type");
    let name = name.trim().trim_start_matches("r#").to_string();
    let ty: String = ty.trim_end_matches(',').chars().filter(|c| !c.is_whitespace()).collect();
    let mut tag = None;
    let mut repeated = false;
    let mut kind = None;
    for (key, value) in &args {
        match (key.as_str(), value.as_deref()) {
            ("tag", Some(v)) => tag = Some(v.parse::<u32>().expect("numeric tag")),
            ("repeated", None) => repeated = true,
            ("optional" | "boxed" | "packed", _) => {}
            ("string", None) => kind = Some("Kind::String".to_string()),
            ("bool", None) => kind = Some("Kind::Bool".to_string()),
            ("int32", None) => kind = Some("Kind::Int32".to_string()),
            ("int64", None) => kind = Some("Kind::Int64".to_string()),
            ("double", None) => kind = Some("Kind::Double".to_string()),
            ("bytes", Some("vec")) => kind = Some("Kind::Bytes".to_string()),
            ("message", None) => kind = Some(format!("Kind::Message({:?})", resolve(module, innermost_type(&ty)))),
            ("btree_map", Some(spec)) => {
                let (k, v) = spec.split_once(',').expect("map key and value");
                assert_eq!(k.trim(), "string", "only string map keys are supported: {decl}");
                let value = match v.trim() {
                    "string" => "MapValue::String".to_string(),
                    "bytes" => "MapValue::Bytes".to_string(),
                    "message" => {
                        let value_ty = map_value_type(&ty);
                        format!("MapValue::Message({:?})", resolve(module, innermost_type(value_ty)))
                    }
                    other => panic!("unsupported map value kind {other}: {decl}"),
                };
                kind = Some(format!("Kind::Map({value})"));
            }
            _ => panic!("unsupported prost attribute {key}={value:?} on {decl}"),
        }
    }
    Field { tag: tag.expect("field tag"), name, kind: kind.unwrap_or_else(|| panic!("no kind for {decl}")), repeated }
}

/// Splits `btree_map = "string, message", tag = "3"` into key/value pairs,
/// keeping quoted commas.
fn split_args(inner: &str) -> Vec<(String, Option<String>)> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in inner.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), Some(v.trim().trim_matches('"').to_string())),
            None => (p.trim().to_string(), None),
        })
        .collect()
}

/// Strips `Option<..>`, `Vec<..>` and `Box<..>` wrappers.
fn innermost_type(ty: &str) -> &str {
    let mut ty = ty;
    loop {
        let stripped = ["::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"]
            .iter()
            .find_map(|w| ty.strip_prefix(w).and_then(|t| t.strip_suffix('>')))
            // rustfmt leaves a trailing comma in generics split over lines.
            .map(|t| t.trim_end_matches(','));
        match stripped {
            Some(inner) => ty = inner,
            None => return ty,
        }
    }
}

/// `BTreeMap<String, V>` -> `V`.
fn map_value_type(ty: &str) -> &str {
    let open = ty.find('<').expect("map type");
    let args = &ty[open + 1..ty.len() - 1];
    let mut depth = 0;
    for (i, c) in args.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth == 0 => return args[i + 1..].trim_end_matches(','),
            _ => {}
        }
    }
    panic!("map type without value: {ty}")
}

/// Resolves a Rust type path used in `module` to a message name.
fn resolve(module: &[String], path: &str) -> String {
    let mut segments: Vec<String> = module.to_vec();
    let mut parts: Vec<&str> = path.split("::").collect();
    if parts.first() == Some(&"crate") {
        segments.clear();
        parts.remove(0);
    }
    while parts.first() == Some(&"super") {
        segments.pop().expect("super beyond the crate root");
        parts.remove(0);
    }
    let name = parts.pop().expect("type name");
    segments.extend(parts.iter().map(|s| s.to_string()));
    full_name(&segments, name)
}

fn full_name(module: &[String], name: &str) -> String {
    format!("k8s.io.{}.{name}", module.join("."))
}

fn message_refs(kind: &str) -> Vec<&str> {
    kind.split('"').skip(1).step_by(2).collect()
}

fn render(messages: &BTreeMap<String, Vec<Field>>, resources: &[(String, String, String)]) -> String {
    let mut out = String::from("// Generated by build.rs from k8s-pb's sources.\n\n");
    out.push_str("pub(super) static MESSAGES: &[MessageDesc] = &[\n");
    for (name, fields) in messages {
        let mut fields: Vec<&Field> = fields.iter().collect();
        fields.sort_by_key(|f| f.tag);
        writeln!(out, "    MessageDesc {{ name: {name:?}, fields: &[").expect("write");
        for f in fields {
            writeln!(
                out,
                "        FieldDesc {{ tag: {}, name: {:?}, kind: {}, repeated: {} }},",
                f.tag, f.name, f.kind, f.repeated
            )
            .expect("write");
        }
        out.push_str("    ] },\n");
    }
    out.push_str("];\n\n/// (apiVersion, kind, message) of every type k8s-pb marks as a resource.\n");
    out.push_str("pub(super) static RESOURCES: &[(&str, &str, &str)] = &[\n");
    let mut resources = resources.to_vec();
    resources.sort();
    for (api_version, kind, message) in resources {
        writeln!(out, "    ({api_version:?}, {kind:?}, {message:?}),").expect("write");
    }
    out.push_str("];\n");
    out
}
