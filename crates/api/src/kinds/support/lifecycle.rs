//! What create and update may change: status resets and generation bumps that some
//! strategies need beyond the trait's defaults.

use serde_json::Value;

/// Keeps the stored status on a plain update (the trait's default behaviour, for
/// strategies that override `prepare_for_update` to do more).
pub fn keep_old_status(new: &mut Value, old: &Value) {
    let Some(map) = new.as_object_mut() else { return };
    match old.get("status") {
        Some(status) => map.insert("status".into(), status.clone()),
        None => map.remove("status"),
    };
}

/// Sets the new object's generation to the old one's plus one. The generic path
/// bumps generation on spec changes the same way, so doing both is idempotent.
pub fn bump_generation(new: &mut Value, old: &Value) {
    let next = crate::meta::generation(old) + 1;
    crate::meta::set_meta(new, "generation", Value::from(next));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_and_generation() {
        let old = json!({"metadata": {"generation": 4}, "status": {"replicas": 2}});
        let mut new = json!({"metadata": {"generation": 4}, "status": {"replicas": 9}});
        keep_old_status(&mut new, &old);
        bump_generation(&mut new, &old);
        assert_eq!(new, json!({"metadata": {"generation": 5}, "status": {"replicas": 2}}));
        let mut new = json!({"status": {}});
        keep_old_status(&mut new, &json!({}));
        assert_eq!(new, json!({}));
    }
}
