//! Policy rules and how a request matches them, with upstream's semantics: `*` matches any
//! verb, group or resource; `*/<sub>` any resource's subresource; resource names narrow a
//! rule; non-resource URLs match exactly or by a trailing `*` prefix.

use serde_json::Value;

use crate::authz::Attributes;

/// One rule of a Role or ClusterRole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

fn strings(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

impl PolicyRule {
    pub fn from_json(v: &Value) -> Self {
        PolicyRule {
            verbs: strings(v, "verbs"),
            api_groups: strings(v, "apiGroups"),
            resources: strings(v, "resources"),
            resource_names: strings(v, "resourceNames"),
            non_resource_urls: strings(v, "nonResourceURLs"),
        }
    }

    /// The rules of a role object (`rules`, missing or null meaning none).
    pub fn all_from(role: &Value) -> Vec<PolicyRule> {
        role.get("rules").and_then(Value::as_array).map(|r| r.iter().map(Self::from_json).collect()).unwrap_or_default()
    }

    pub fn verb_matches(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == "*" || v == verb)
    }

    pub fn group_matches(&self, group: &str) -> bool {
        self.api_groups.iter().any(|g| g == "*" || g == group)
    }

    /// `resource` is `pods` or `pods/log`; `subresource` the part after the slash.
    pub fn resource_matches(&self, resource: &str, subresource: &str) -> bool {
        self.resources.iter().any(|r| {
            r == "*"
                || r == resource
                || (!subresource.is_empty() && r.strip_prefix("*/").is_some_and(|sub| sub == subresource))
        })
    }

    pub fn name_matches(&self, name: &str) -> bool {
        self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == name)
    }

    pub fn url_matches(&self, path: &str) -> bool {
        self.non_resource_urls
            .iter()
            .any(|u| u == "*" || u == path || u.strip_suffix('*').is_some_and(|prefix| path.starts_with(prefix)))
    }

    /// Whether this rule allows the request.
    pub fn allows(&self, attrs: &Attributes) -> bool {
        if !self.verb_matches(&attrs.verb) {
            return false;
        }
        match &attrs.resource {
            Some(r) => {
                let combined = if r.subresource.is_empty() {
                    r.resource.clone()
                } else {
                    format!("{}/{}", r.resource, r.subresource)
                };
                self.group_matches(&r.group)
                    && self.resource_matches(&combined, &r.subresource)
                    && self.name_matches(&r.name)
            }
            None => self.url_matches(&attrs.path),
        }
    }

    /// Whether `self` grants everything `other` grants (upstream's rule coverage, used to stop
    /// privilege escalation through Role and binding writes).
    pub fn covers(owner: &[PolicyRule], requested: &PolicyRule) -> bool {
        requested.breakdown().iter().all(|atom| owner.iter().any(|o| o.covers_atom(atom)))
    }

    /// Splits a rule into rules of one verb, group, resource (and name or URL) each.
    fn breakdown(&self) -> Vec<PolicyRule> {
        let mut out = Vec::new();
        let one = |s: &String| vec![s.clone()];
        for group in &self.api_groups {
            for resource in &self.resources {
                for verb in &self.verbs {
                    if self.resource_names.is_empty() {
                        out.push(PolicyRule {
                            verbs: one(verb),
                            api_groups: one(group),
                            resources: one(resource),
                            ..Default::default()
                        });
                    }
                    for name in &self.resource_names {
                        out.push(PolicyRule {
                            verbs: one(verb),
                            api_groups: one(group),
                            resources: one(resource),
                            resource_names: one(name),
                            ..Default::default()
                        });
                    }
                }
            }
        }
        for url in &self.non_resource_urls {
            for verb in &self.verbs {
                out.push(PolicyRule { verbs: one(verb), non_resource_urls: one(url), ..Default::default() });
            }
        }
        out
    }

    /// Coverage of a rule with at most one of everything: a requested wildcard needs a wildcard.
    fn covers_atom(&self, atom: &PolicyRule) -> bool {
        let has = |list: &[String], want: &str| list.iter().any(|x| x == "*" || x == want);
        let verb = atom.verbs.first().map(String::as_str).unwrap_or("");
        if !has(&self.verbs, verb) {
            return false;
        }
        if let Some(url) = atom.non_resource_urls.first() {
            return self
                .non_resource_urls
                .iter()
                .any(|u| u == "*" || u == url || (u.ends_with('*') && url.starts_with(u.trim_end_matches('*'))));
        }
        let group = atom.api_groups.first().map(String::as_str).unwrap_or("");
        let resource = atom.resources.first().map(String::as_str).unwrap_or("");
        let resource_ok = self.resources.iter().any(|r| {
            r == "*"
                || r == resource
                || (r.starts_with("*/") && resource.split_once('/').is_some_and(|(_, sub)| r[2..] == *sub))
        });
        let name_ok = self.resource_names.is_empty()
            || atom.resource_names.first().is_some_and(|n| self.resource_names.contains(n));
        has(&self.api_groups, group) && resource_ok && name_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::UserInfo;
    use crate::authz::ResourceAttributes;
    use serde_json::json;

    fn rule(v: Value) -> PolicyRule {
        PolicyRule::from_json(&v)
    }

    fn resource(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            user: UserInfo::authenticated("u", vec![]),
            verb: verb.into(),
            resource: Some(ResourceAttributes {
                group: group.into(),
                resource: resource.into(),
                subresource: sub.into(),
                name: name.into(),
                ..Default::default()
            }),
            path: String::new(),
        }
    }

    #[test]
    fn resource_rules() {
        let r = rule(json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/log"]}));
        assert!(r.allows(&resource("get", "", "pods", "", "x")));
        assert!(r.allows(&resource("get", "", "pods", "log", "x")));
        assert!(!r.allows(&resource("delete", "", "pods", "", "x")));
        assert!(!r.allows(&resource("get", "apps", "pods", "", "x")));
        assert!(!r.allows(&resource("get", "", "pods", "exec", "x")));
        let star = rule(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/scale"]}));
        assert!(star.allows(&resource("patch", "apps", "deployments", "scale", "")));
        assert!(!star.allows(&resource("patch", "apps", "deployments", "", "")));
        let named =
            rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"]}));
        assert!(named.allows(&resource("get", "", "configmaps", "", "a")));
        assert!(!named.allows(&resource("get", "", "configmaps", "", "b")));
        assert!(!named.allows(&resource("get", "", "configmaps", "", "")));
    }

    #[test]
    fn non_resource_rules() {
        let r = rule(json!({"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]}));
        let path =
            |p: &str| Attributes { user: UserInfo::anonymous(), verb: "get".into(), resource: None, path: p.into() };
        assert!(r.allows(&path("/healthz")));
        assert!(r.allows(&path("/apis/apps/v1")));
        assert!(!r.allows(&path("/api")));
        assert!(!r.allows(&resource("get", "", "pods", "", "")));
    }

    #[test]
    fn coverage() {
        let owner = vec![rule(json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "secrets"]}))];
        assert!(PolicyRule::covers(&owner, &rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}))));
        assert!(!PolicyRule::covers(
            &owner,
            &rule(json!({"verbs": ["delete"], "apiGroups": [""], "resources": ["pods"]}))
        ));
        assert!(!PolicyRule::covers(&owner, &rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["*"]}))));
        let admin = vec![rule(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}))];
        assert!(PolicyRule::covers(&admin, &rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["*"]}))));
        assert!(!PolicyRule::covers(&admin, &rule(json!({"verbs": ["get"], "nonResourceURLs": ["/x"]}))));
    }
}
