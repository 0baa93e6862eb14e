//! Server-side printing: the `Table` kubectl asks for, with the columns upstream prints.

use serde_json::{Value, json};

use crate::strategy::Context;

#[derive(Debug, Clone)]
pub struct Column {
    pub name: &'static str,
    /// `string`, `integer`, `number`, `boolean`, `date`
    pub ty: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    /// 0 = always shown, 1 = only with `-o wide`.
    pub priority: i32,
}

impl Column {
    pub const fn new(name: &'static str, ty: &'static str, description: &'static str) -> Self {
        Column { name, ty, format: "", description, priority: 0 }
    }

    pub const fn wide(name: &'static str, ty: &'static str, description: &'static str) -> Self {
        Column { name, ty, format: "", description, priority: 1 }
    }

    pub const fn name() -> Self {
        Column {
            name: "Name",
            ty: "string",
            format: "name",
            description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
            priority: 0,
        }
    }

    pub const fn age() -> Self {
        Column {
            name: "Age",
            ty: "string",
            format: "",
            description: "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
            priority: 0,
        }
    }

    /// The "Created At" column of upstream's default table (CRDs) and of Roles.
    pub const fn created_at() -> Self {
        Column {
            name: "Created At",
            ty: "date",
            format: "",
            description: "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
            priority: 0,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.ty,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// Human duration as kubectl prints ages: `45s`, `5m10s`, `3h`, `2d5h`, `40d`, `2y30d`.
pub fn human_duration(secs: i64) -> String {
    if secs < 0 {
        return "<invalid>".to_string();
    }
    let d = secs;
    if d < 60 * 2 {
        return format!("{d}s");
    }
    let minutes = d / 60;
    if minutes < 10 {
        let s = d % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d / 3600;
    if hours < 8 {
        let m = (d / 60) % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{dy}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

/// Parses an RFC 3339 timestamp as the API writes them.
pub fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    s.parse::<jiff::Timestamp>().ok()
}

/// Time since an RFC 3339 timestamp, as kubectl prints it; `<unknown>` when absent.
pub fn since(ts: Option<&str>, ctx: &Context) -> String {
    match ts.and_then(parse_time) {
        Some(t) => human_duration(ctx.now.duration_since(t).as_secs()),
        None => "<unknown>".to_string(),
    }
}

/// The Age cell of an object.
pub fn age(obj: &Value, ctx: &Context) -> String {
    since(obj.pointer("/metadata/creationTimestamp").and_then(Value::as_str), ctx)
}

/// `<none>` for empty strings, the value otherwise.
pub fn or_none(s: &str) -> String {
    if s.is_empty() { "<none>".to_string() } else { s.to_string() }
}

/// Renders a label map as `k=v,k2=v2` (sorted), `<none>` when empty.
pub fn labels_string(map: Option<&Value>) -> String {
    let Some(Value::Object(m)) = map else { return "<none>".to_string() };
    if m.is_empty() {
        return "<none>".to_string();
    }
    let mut pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
    pairs.sort();
    pairs.join(",")
}

/// Renders a `LabelSelector` as `metav1.FormatLabelSelector` does (`app=web,tier in (a,b)`,
/// requirements sorted by key, values sorted), `<none>` when empty or missing.
pub fn selector_string(sel: Option<&Value>) -> String {
    let Some(sel) = sel else { return "<none>".to_string() };
    // (key, rendered requirement); sorted by key like upstream's selector.Add.
    let mut parts: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(m)) = sel.get("matchLabels") {
        for (k, v) in m {
            parts.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    if let Some(Value::Array(exprs)) = sel.get("matchExpressions") {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let op = e.get("operator").and_then(Value::as_str).unwrap_or_default();
            let mut values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            values.sort_unstable();
            let rendered = match op {
                "In" => format!("{key} in ({})", values.join(",")),
                "NotIn" => format!("{key} notin ({})", values.join(",")),
                "Exists" => key.to_string(),
                "DoesNotExist" => format!("!{key}"),
                _ => continue,
            };
            parts.push((key.to_string(), rendered));
        }
    }
    parts.sort_by(|a, b| a.0.cmp(&b.0));
    if parts.is_empty() {
        "<none>".to_string()
    } else {
        parts.into_iter().map(|(_, r)| r).collect::<Vec<_>>().join(",")
    }
}

/// The Containers and Images cells of a pod spec (`layoutContainerCells`): names and
/// images of `containers`, comma-separated.
pub fn container_cells(pod_spec: Option<&Value>) -> (String, String) {
    let containers = pod_spec.and_then(|s| s.get("containers")).and_then(Value::as_array);
    let mut names = Vec::new();
    let mut images = Vec::new();
    for c in containers.into_iter().flatten() {
        names.push(c.get("name").and_then(Value::as_str).unwrap_or_default());
        images.push(c.get("image").and_then(Value::as_str).unwrap_or_default());
    }
    (names.join(","), images.join(","))
}

/// The "Created At" cell: the creation timestamp in RFC 3339 (UTC), as upstream's
/// default table convertor and the Role printers write it.
pub fn created_at(obj: &Value) -> String {
    let ts = obj.pointer("/metadata/creationTimestamp").and_then(Value::as_str).and_then(parse_time);
    match ts {
        Some(t) => crate::meta::format_time(t),
        None => "0001-01-01T00:00:00Z".to_string(),
    }
}

/// Joins the first `max` items with `,` and says how many more there were
/// (`a,b,c + 2 more...`), `<unset>` when there are none (EndpointSlice columns).
pub fn list_with_more(items: &[String], max: usize) -> String {
    if items.is_empty() {
        return "<unset>".to_string();
    }
    let shown = items.iter().take(max).cloned().collect::<Vec<_>>().join(",");
    if items.len() > max { format!("{shown} + {} more...", items.len() - max) } else { shown }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(130), "2m10s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 120), "3h2m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d1h");
        assert_eq!(human_duration(40 * 86400), "40d");
    }

    #[test]
    fn selectors_print_sorted_by_key() {
        let sel = json!({"matchLabels": {"tier": "web"}, "matchExpressions": [{"key": "app", "operator": "In", "values": ["b", "a"]}]});
        assert_eq!(selector_string(Some(&sel)), "app in (a,b),tier=web");
        assert_eq!(selector_string(Some(&json!({}))), "<none>");
    }

    #[test]
    fn container_and_list_cells() {
        let spec = json!({"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y"}]});
        assert_eq!(container_cells(Some(&spec)), ("a,b".to_string(), "x:1,y".to_string()));
        assert_eq!(container_cells(None), (String::new(), String::new()));
        let items: Vec<String> = (1..=5).map(|i| i.to_string()).collect();
        assert_eq!(list_with_more(&items, 3), "1,2,3 + 2 more...");
        assert_eq!(list_with_more(&[], 3), "<unset>");
        assert_eq!(
            created_at(&json!({"metadata": {"creationTimestamp": "2024-01-02T03:04:05Z"}})),
            "2024-01-02T03:04:05Z"
        );
    }
}
