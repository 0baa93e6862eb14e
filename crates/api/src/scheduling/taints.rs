//! Taints and tolerations (upstream's `Toleration.ToleratesTaint`).

use k8s_openapi::api::core::v1::{Taint, Toleration};

/// Whether `toleration` tolerates `taint`: same effect (or any, when the toleration names
/// none), same key (or any, when it names none), and an equal value unless the operator
/// is `Exists`. An empty operator means `Equal`; unknown operators tolerate nothing.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    if let Some(key) = toleration.key.as_deref().filter(|k| !k.is_empty())
        && key != taint.key
    {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

/// Whether some toleration tolerates `taint`.
pub fn tolerates_all(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The first taint whose effect passes `effect_filter` and that no toleration tolerates.
pub fn find_untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    effect_filter: impl Fn(&str) -> bool,
) -> Option<&'a Taint> {
    taints.iter().filter(|t| effect_filter(&t.effect)).find(|t| !tolerates_all(tolerations, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint { key: key.into(), value: value.map(Into::into), effect: effect.into(), time_added: None }
    }

    fn toleration(key: Option<&str>, op: Option<&str>, value: Option<&str>, effect: Option<&str>) -> Toleration {
        Toleration {
            key: key.map(Into::into),
            operator: op.map(Into::into),
            value: value.map(Into::into),
            effect: effect.map(Into::into),
            toleration_seconds: None,
        }
    }

    #[test]
    fn matching_rules() {
        let gpu = taint("gpu", Some("true"), "NoSchedule");
        assert!(tolerates(&toleration(Some("gpu"), None, Some("true"), None), &gpu));
        assert!(tolerates(&toleration(Some("gpu"), Some("Equal"), Some("true"), Some("NoSchedule")), &gpu));
        assert!(!tolerates(&toleration(Some("gpu"), Some("Equal"), Some("false"), None), &gpu));
        assert!(!tolerates(&toleration(Some("gpu"), Some("Exists"), None, Some("NoExecute")), &gpu));
        assert!(tolerates(&toleration(Some("gpu"), Some("Exists"), None, None), &gpu));
        // An empty key with Exists tolerates everything.
        assert!(tolerates(&toleration(None, Some("Exists"), None, None), &gpu));
        assert!(!tolerates(&toleration(Some("other"), Some("Exists"), None, None), &gpu));
        assert!(!tolerates(&toleration(Some("gpu"), Some("Lt"), Some("true"), None), &gpu));
        // A taint without value equals an empty toleration value.
        let bare = taint("dedicated", None, "NoExecute");
        assert!(tolerates(&toleration(Some("dedicated"), None, None, None), &bare));
    }

    #[test]
    fn first_untolerated_by_effect() {
        let taints = vec![taint("a", None, "PreferNoSchedule"), taint("b", Some("x"), "NoSchedule")];
        let none: Vec<Toleration> = vec![];
        let hard = |e: &str| e == "NoSchedule" || e == "NoExecute";
        assert_eq!(find_untolerated(&taints, &none, hard).map(|t| t.key.as_str()), Some("b"));
        let tol = vec![toleration(Some("b"), Some("Exists"), None, None)];
        assert!(find_untolerated(&taints, &tol, hard).is_none());
    }
}
