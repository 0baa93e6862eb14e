//! How each message maps to JSON, derived once from the message table and the
//! schema catalog: the JSON name of every field, which fields JSON inlines into
//! their parent, which messages are bare lists, and how decoded zeros are
//! treated (see `zero`).
//!
//! Names: a field takes the name of the catalog property that matches it when
//! both are lowercased with everything but letters and digits removed
//! (`pod_ip` ~ `podIP`, `r#ref` ~ `$ref`, `x_kubernetes_list_type` ~
//! `x-kubernetes-list-type`), else its lowerCamelCase form.
//!
//! Inlining: Go structs embedded with `json:",inline"` are separate messages in
//! protobuf (`Probe.handler`, `Volume.volumeSource`, `IngressRule.ingressRuleValue`,
//! `EphemeralContainer.ephemeralContainerCommon`, the `localObjectReference`
//! of key selectors and config map/secret sources, …). Such a field has no
//! property in its parent's schema, while its message's fields are (nearly all)
//! properties of the parent; that is the test, so no list of them is kept.
//!
//! Bare lists: a message whose only field is `repeated items` of scalars
//! (`ExtraValue`, `Verbs`) is a named Go slice type, which JSON writes as the
//! array itself.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::descriptor::{self, FieldDesc, Kind, MessageDesc};
use super::wellknown::{self, Special};
use super::zero::{self, ZeroPolicy};
use crate::schema::Catalog;

#[derive(Debug)]
pub struct FieldPlan {
    pub desc: &'static FieldDesc,
    pub json: String,
    /// The field's message is written into its parent's JSON object.
    pub inline: bool,
    pub zero: ZeroPolicy,
}

#[derive(Debug)]
pub struct MessagePlan {
    pub desc: &'static MessageDesc,
    pub special: Option<Special>,
    /// The message is a named list: JSON is the array of its single field.
    pub bare_list: bool,
    /// In the order of `desc.fields` (by tag).
    pub fields: Vec<FieldPlan>,
}

impl MessagePlan {
    pub fn field(&self, tag: u32) -> Option<(usize, &FieldPlan)> {
        let index = self.desc.fields.binary_search_by_key(&tag, |f| f.tag).ok()?;
        Some((index, &self.fields[index]))
    }
}

#[derive(Debug)]
pub struct Plan {
    messages: HashMap<&'static str, MessagePlan>,
}

/// A catalog definition's property names and required list.
struct Properties<'a> {
    /// Normalized name -> JSON name.
    by_norm: HashMap<String, &'a str>,
    required: BTreeSet<&'a str>,
}

impl<'a> Properties<'a> {
    fn of(schema: &'a Value) -> Self {
        let by_norm = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| props.keys().map(|k| (normalize(k), k.as_str())).collect())
            .unwrap_or_default();
        let required = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        Properties { by_norm, required }
    }

    fn json_name(&self, rust: &str) -> Option<&'a str> {
        self.by_norm.get(&normalize(rust)).copied()
    }
}

/// Lowercase, letters and digits only.
fn normalize(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// `last_transition_time` -> `lastTransitionTime`.
fn lower_camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `k8s.io.api.core.v1.Pod` -> `io.k8s.api.core.v1.Pod`;
/// `k8s.io.apiextensions_apiserver.…` -> `io.k8s.apiextensions-apiserver.…`.
fn definition_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("k8s.io.")?;
    let (root, tail) = rest.split_once('.')?;
    Some(format!("io.k8s.{}.{tail}", root.replace('_', "-")))
}

/// A message holding only `repeated items` of scalars. (`DownwardAPIProjection`
/// also holds only `items`, of messages, and JSON keeps it an object.)
fn is_bare_list(desc: &MessageDesc) -> bool {
    matches!(desc.fields, [only] if only.repeated && only.name == "items" && !matches!(only.kind, Kind::Message(_)))
}

impl Plan {
    pub fn new(catalog: &Catalog) -> Self {
        // Catalog definitions by lowercased name: prost renamed acronyms.
        let defs: HashMap<String, &Value> =
            catalog.definitions().iter().map(|(name, schema)| (name.to_ascii_lowercase(), schema)).collect();
        let own_props: HashMap<&'static str, Properties<'_>> = descriptor::messages()
            .iter()
            .filter_map(|m| {
                let def = definition_name(m.name)?.to_ascii_lowercase();
                defs.get(&def).map(|schema| (m.name, Properties::of(schema)))
            })
            .collect();

        // Fields inlined into their parent, and the parent whose properties name the inlined message's fields.
        let mut inlined: BTreeSet<(&'static str, u32)> = BTreeSet::new();
        let mut inline_source: HashMap<&'static str, &'static str> = HashMap::new();
        for message in descriptor::messages() {
            let Some(props) = own_props.get(message.name) else { continue };
            for field in message.fields {
                if let Some(target) = inlined_message(field, props) {
                    inlined.insert((message.name, field.tag));
                    inline_source.entry(target.name).or_insert(message.name);
                }
            }
        }

        let messages = descriptor::messages()
            .iter()
            .map(|m| {
                let props = own_props.get(m.name).or_else(|| inline_source.get(m.name).and_then(|p| own_props.get(p)));
                let fields = m
                    .fields
                    .iter()
                    .map(|f| {
                        let json =
                            props.and_then(|p| p.json_name(f.name)).map_or_else(|| lower_camel(f.name), String::from);
                        let required = props.is_some_and(|p| p.required.contains(json.as_str()));
                        FieldPlan {
                            desc: f,
                            zero: zero::policy(m.name, &json, required),
                            inline: inlined.contains(&(m.name, f.tag)),
                            json,
                        }
                    })
                    .collect();
                let plan =
                    MessagePlan { desc: m, special: wellknown::special(m.name), bare_list: is_bare_list(m), fields };
                (m.name, plan)
            })
            .collect();
        Plan { messages }
    }

    pub fn message(&self, name: &str) -> Option<&MessagePlan> {
        self.messages.get(name)
    }
}

/// The message of `field` if JSON inlines it into a parent with properties `props`.
fn inlined_message(field: &FieldDesc, props: &Properties<'_>) -> Option<&'static MessageDesc> {
    let Kind::Message(name) = field.kind else { return None };
    if field.repeated || props.json_name(field.name).is_some() || wellknown::special(name).is_some() {
        return None;
    }
    let target = descriptor::message(name)?;
    if target.fields.is_empty() || is_bare_list(target) {
        return None;
    }
    // k8s-pb may know fields newer than the catalog's version: most, not all, must match.
    let matched = target.fields.iter().filter(|f| props.json_name(f.name).is_some()).count();
    (matched * 4 >= target.fields.len() * 3).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> &'static Plan {
        &super::super::codec().plan
    }

    fn json_names(message: &str) -> Vec<&str> {
        plan().message(message).unwrap().fields.iter().map(|f| f.json.as_str()).collect()
    }

    #[test]
    fn names_follow_the_catalog() {
        let pod_status = json_names("k8s.io.api.core.v1.PodStatus");
        assert!(pod_status.contains(&"podIP") && pod_status.contains(&"podIPs") && pod_status.contains(&"hostIP"));
        let spec = json_names("k8s.io.api.core.v1.ServiceSpec");
        assert!(spec.contains(&"clusterIPs") && spec.contains(&"externalIPs") && spec.contains(&"type"));
        let props = json_names("k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JsonSchemaProps");
        assert!(props.contains(&"$ref") && props.contains(&"x-kubernetes-list-type"));
        // Not served, so not in the catalog: lowerCamelCase.
        assert!(json_names("k8s.io.api.authorization.v1.ResourceAttributes").contains(&"fieldSelector"));
        assert_eq!(lower_camel("last_transition_time"), "lastTransitionTime");
    }

    #[test]
    fn inlined_fields_are_found_from_the_schema() {
        let mut found = Vec::new();
        for m in descriptor::messages() {
            for f in &plan().message(m.name).unwrap().fields {
                if f.inline {
                    found.push(format!("{}.{}", m.short_name(), f.json));
                }
            }
        }
        found.sort();
        assert_eq!(
            found,
            [
                "ConfigMapEnvSource.localObjectReference",
                "ConfigMapKeySelector.localObjectReference",
                "ConfigMapProjection.localObjectReference",
                "ConfigMapVolumeSource.localObjectReference",
                "EphemeralContainer.ephemeralContainerCommon",
                "IngressRule.ingressRuleValue",
                "PersistentVolumeSpec.persistentVolumeSource",
                "Probe.handler",
                "SecretEnvSource.localObjectReference",
                "SecretKeySelector.localObjectReference",
                "SecretProjection.localObjectReference",
                "Volume.volumeSource",
            ]
        );
        let handler = json_names("k8s.io.api.core.v1.ProbeHandler");
        assert_eq!(handler, ["exec", "httpGet", "tcpSocket", "grpc"]);
    }

    #[test]
    fn bare_lists_and_zero_policies() {
        assert!(plan().message("k8s.io.api.authentication.v1.ExtraValue").unwrap().bare_list);
        assert!(plan().message("k8s.io.apimachinery.pkg.apis.meta.v1.Verbs").unwrap().bare_list);
        assert!(!plan().message("k8s.io.api.core.v1.PodList").unwrap().bare_list);
        let port = plan().message("k8s.io.api.core.v1.ContainerPort").unwrap();
        let container_port = port.fields.iter().find(|f| f.json == "containerPort").unwrap();
        assert!(!container_port.zero.drop_zero && !container_port.zero.drop_empty_string);
        let host_port = port.fields.iter().find(|f| f.json == "hostPort").unwrap();
        assert!(host_port.zero.drop_zero);
    }
}
