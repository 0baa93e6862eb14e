//! How upstream names operations and tags, so generated documents read like the
//! ones kube-apiserver publishes (`listAppsV1NamespacedDeployment`, tag `apps_v1`).

/// Keeps letters, underscores and (not leading) digits; any other character ends
/// a word, and the next kept letter starts a new one in upper case.
pub(super) fn identifier(s: &str, capitalize_first: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut capitalize = capitalize_first;
    for (i, c) in s.chars().enumerate() {
        if c.is_alphabetic() || c == '_' || (i != 0 && c.is_numeric()) {
            if capitalize {
                out.extend(c.to_uppercase());
                capitalize = false;
            } else {
                out.push(c);
            }
        } else {
            capitalize = true;
        }
    }
    out
}

/// The group as operation ids spell it: `core` for the legacy group, and without
/// the `.k8s.io` suffix (`networking.k8s.io` -> `networking`).
fn group_word(group: &str) -> &str {
    if group.is_empty() { "core" } else { group.strip_suffix(".k8s.io").unwrap_or(group) }
}

/// The group-version parts of operation ids and tags.
#[derive(Debug, Clone)]
pub(super) struct GroupVersionNames {
    /// Goes between the verb and the rest of an operation id: `AppsV1`, `RbacAuthorizationV1`.
    pub infix: String,
    /// The operations' tag: `apps_v1`, `rbacAuthorization_v1`, `core_v1`.
    pub tag: String,
}

impl GroupVersionNames {
    pub fn new(group: &str, version: &str) -> Self {
        let word = group_word(group);
        GroupVersionNames {
            infix: format!("{}{}", identifier(word, true), identifier(version, true)),
            tag: format!("{}_{}", identifier(word, false), identifier(version, false)),
        }
    }

    /// `verb` + group-version + `rest`: ("list", "NamespacedPod") -> `listCoreV1NamespacedPod`.
    pub fn operation_id(&self, verb: &str, rest: &str) -> String {
        format!("{verb}{}{rest}", self.infix)
    }
}

/// The indefinite article before a kind in operation descriptions, with the
/// spaces around it: " a ", " an ", or " " for plural-looking kinds (`Endpoints`).
pub(super) fn article(noun: &str) -> &'static str {
    if noun.ends_with('s') && !noun.ends_with("ss") {
        return " ";
    }
    match noun.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => " an ",
        _ => " a ",
    }
}

/// Upper-cases the first letter: `ephemeralcontainers` -> `Ephemeralcontainers`.
pub(super) fn title(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_versions_are_named_like_upstream() {
        let core = GroupVersionNames::new("", "v1");
        assert_eq!(core.operation_id("list", "NamespacedPod"), "listCoreV1NamespacedPod");
        assert_eq!(core.tag, "core_v1");
        let rbac = GroupVersionNames::new("rbac.authorization.k8s.io", "v1");
        assert_eq!(rbac.infix, "RbacAuthorizationV1");
        assert_eq!(rbac.tag, "rbacAuthorization_v1");
        let crd = GroupVersionNames::new("stable.example.com", "v1beta1");
        assert_eq!(crd.infix, "StableExampleComV1beta1");
        assert_eq!(crd.tag, "stableExampleCom_v1beta1");
        assert_eq!(GroupVersionNames::new("autoscaling", "v2").infix, "AutoscalingV2");
    }

    #[test]
    fn leading_digits_are_dropped_and_separators_capitalize() {
        assert_eq!(identifier("3d-printers.io", false), "DPrintersIo");
        assert_eq!(identifier("k3s.io", true), "K3sIo");
    }

    #[test]
    fn articles() {
        assert_eq!(article("Ingress"), " an ");
        assert_eq!(article("Pod"), " a ");
        assert_eq!(article("Endpoints"), " ");
        assert_eq!(article("StorageClass"), " a ");
        assert_eq!(title("portforward"), "Portforward");
        assert_eq!(title(""), "");
    }
}
