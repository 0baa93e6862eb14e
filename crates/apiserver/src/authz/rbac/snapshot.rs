//! One consistent view of every Role, ClusterRole and binding, and RBAC's questions over it:
//! does any rule bound to this user allow the request, and which rules apply to the user in
//! a namespace (`SelfSubjectRulesReview`).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::rules::PolicyRule;
use crate::authn::UserInfo;
use crate::authn::service_account;
use crate::authz::Attributes;

/// A subject of a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub name: String,
    /// The namespace of a RoleBinding; empty for a ClusterRoleBinding.
    pub namespace: String,
    /// `Role` or `ClusterRole`.
    pub role_kind: String,
    pub role_name: String,
    pub subjects: Vec<Subject>,
}

impl Binding {
    pub fn from_json(obj: &Value) -> Self {
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let subjects = obj
            .get("subjects")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| Subject { kind: s(v, "kind"), name: s(v, "name"), namespace: s(v, "namespace") })
                    .collect()
            })
            .unwrap_or_default();
        let role_ref = obj.get("roleRef").cloned().unwrap_or(Value::Null);
        Binding {
            name: k3rs_api::meta::name(obj).to_string(),
            namespace: k3rs_api::meta::namespace(obj).to_string(),
            role_kind: s(&role_ref, "kind"),
            role_name: s(&role_ref, "name"),
            subjects,
        }
    }

    /// Whether one of the subjects is `user` (upstream's appliesTo).
    pub fn applies_to(&self, user: &UserInfo) -> bool {
        self.subjects.iter().any(|s| match s.kind.as_str() {
            "User" => s.name == user.name,
            "Group" => user.in_group(&s.name),
            "ServiceAccount" => {
                let ns = if s.namespace.is_empty() { &self.namespace } else { &s.namespace };
                !ns.is_empty() && user.name == service_account::username(ns, &s.name)
            }
            _ => false,
        })
    }
}

/// Roles by name and bindings, as of one moment.
#[derive(Debug, Default, Clone)]
pub struct RbacSnapshot {
    pub cluster_roles: HashMap<String, Arc<Vec<PolicyRule>>>,
    /// Keyed by (namespace, name).
    pub roles: HashMap<(String, String), Arc<Vec<PolicyRule>>>,
    pub cluster_role_bindings: Vec<Binding>,
    /// By namespace.
    pub role_bindings: HashMap<String, Vec<Binding>>,
}

impl RbacSnapshot {
    fn role_rules(&self, binding: &Binding) -> Option<&Arc<Vec<PolicyRule>>> {
        match binding.role_kind.as_str() {
            "ClusterRole" => self.cluster_roles.get(&binding.role_name),
            "Role" => self.roles.get(&(binding.namespace.clone(), binding.role_name.clone())),
            _ => None,
        }
    }

    /// Calls `visit` with every rule that applies to `user` in `namespace` (cluster-wide rules
    /// when empty) until it returns true; returns whether it did.
    pub fn any_rule(&self, user: &UserInfo, namespace: &str, mut visit: impl FnMut(&PolicyRule) -> bool) -> bool {
        let bindings = self
            .cluster_role_bindings
            .iter()
            .chain(self.role_bindings.get(namespace).into_iter().flatten().filter(|_| !namespace.is_empty()));
        for binding in bindings {
            if !binding.applies_to(user) {
                continue;
            }
            if let Some(rules) = self.role_rules(binding)
                && rules.iter().any(&mut visit)
            {
                return true;
            }
        }
        false
    }

    /// Whether a rule bound to the request's user allows it.
    pub fn allows(&self, attrs: &Attributes) -> bool {
        let namespace = attrs.resource.as_ref().map(|r| r.namespace.as_str()).unwrap_or("");
        self.any_rule(&attrs.user, namespace, |rule| rule.allows(attrs))
    }

    /// Upstream's account of why RBAC allows a request
    /// (`RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to Group "g"`).
    pub fn allowed_by(&self, attrs: &Attributes) -> Option<String> {
        let namespace = attrs.resource.as_ref().map(|r| r.namespace.as_str()).unwrap_or("");
        let bindings = self
            .cluster_role_bindings
            .iter()
            .chain(self.role_bindings.get(namespace).into_iter().flatten().filter(|_| !namespace.is_empty()));
        for binding in bindings {
            let Some(subject) = binding
                .subjects
                .iter()
                .find(|s| Binding { subjects: vec![(*s).clone()], ..binding.clone() }.applies_to(&attrs.user))
            else {
                continue;
            };
            if self.role_rules(binding).is_some_and(|rules| rules.iter().any(|r| r.allows(attrs))) {
                let source = if binding.namespace.is_empty() {
                    format!("ClusterRoleBinding {:?}", binding.name)
                } else {
                    format!("RoleBinding \"{}/{}\"", binding.name, binding.namespace)
                };
                let who = if subject.kind == "ServiceAccount" {
                    let ns = if subject.namespace.is_empty() { &binding.namespace } else { &subject.namespace };
                    format!("{}/{ns}", subject.name)
                } else {
                    subject.name.clone()
                };
                return Some(format!(
                    "RBAC: allowed by {source} of {} {:?} to {} {who:?}",
                    binding.role_kind, binding.role_name, subject.kind
                ));
            }
        }
        None
    }

    /// Every rule that applies to `user` in `namespace`.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> Vec<PolicyRule> {
        let mut out: Vec<PolicyRule> = Vec::new();
        self.any_rule(user, namespace, |rule| {
            if !out.contains(rule) {
                out.push(rule.clone());
            }
            false
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::ResourceAttributes;
    use serde_json::json;

    fn snapshot() -> RbacSnapshot {
        let mut s = RbacSnapshot::default();
        s.cluster_roles.insert(
            "view".into(),
            Arc::new(vec![PolicyRule::from_json(
                &json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}),
            )]),
        );
        s.role_bindings.insert(
            "team".into(),
            vec![Binding::from_json(&json!({
                "metadata": {"name": "b", "namespace": "team"},
                "roleRef": {"kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "ServiceAccount", "name": "bot"}, {"kind": "Group", "name": "devs"}],
            }))],
        );
        s
    }

    fn get_pods(user: UserInfo, ns: &str) -> Attributes {
        Attributes {
            user,
            verb: "get".into(),
            resource: Some(ResourceAttributes { resource: "pods".into(), namespace: ns.into(), ..Default::default() }),
            path: String::new(),
        }
    }

    #[test]
    fn role_binding_grants_only_in_its_namespace() {
        let s = snapshot();
        let bot = UserInfo::authenticated("system:serviceaccount:team:bot", vec![]);
        assert!(s.allows(&get_pods(bot.clone(), "team")));
        assert!(!s.allows(&get_pods(bot.clone(), "other")));
        assert!(!s.allows(&get_pods(bot.clone(), "")));
        let dev = UserInfo::authenticated("jane", vec!["devs".into()]);
        assert!(s.allows(&get_pods(dev.clone(), "team")));
        assert_eq!(s.rules_for(&dev, "team").len(), 1);
        assert!(s.rules_for(&dev, "other").is_empty());
        // Same name, other namespace: not the bound service account.
        let other = UserInfo::authenticated("system:serviceaccount:other:bot", vec![]);
        assert!(!s.allows(&get_pods(other, "team")));
    }
}
