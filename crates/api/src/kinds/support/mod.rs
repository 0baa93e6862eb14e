//! Helpers shared by the strategies of the non-core groups: JSON access and
//! defaulting, the generic upstream checks (non-negative, immutable, int-or-percent),
//! label selectors, and the pod-template call point.

pub mod checks;
pub mod json;
pub mod lifecycle;
pub mod pod_template;
pub mod selector;

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::strategy::Context;

    /// Every strategy of the non-core groups survives odd input: nothing panics, and
    /// rows always have one cell per column.
    #[test]
    fn strategies_tolerate_odd_objects() {
        let ctx = Context { now: "2024-01-01T00:00:00Z".parse().unwrap() };
        let odd = [
            json!({}),
            json!({"metadata": {}, "spec": null, "status": null}),
            json!({"spec": "text", "status": 3, "metadata": {"name": 5}}),
            json!({"spec": {"template": [], "selector": "x", "rules": 1, "versions": {}}}),
            json!([]),
            Value::Null,
        ];
        for def in crate::kinds::builtin().into_iter().filter(|d| !d.group.is_empty()) {
            let s = &def.strategy;
            let columns = s.columns().len();
            for obj in &odd {
                let mut o = obj.clone();
                // The generic path stops at a shape error; the rest only sees objects.
                if s.normalize(&mut o).is_err() && !o.is_object() {
                    assert_eq!(s.row(obj, &ctx).len(), columns, "{} row of {obj}", def.kind);
                    continue;
                }
                s.default(&mut o);
                s.prepare_for_create(&mut o);
                let _ = s.validate_create(&o);
                let _ = s.validate_update(&o, obj);
                let mut updated = o.clone();
                s.prepare_for_update(&mut updated, obj);
                let _ = s.to_storage(o.clone(), &def.version);
                let _ = s.from_storage(o.clone(), &def.version);
                let _ = s.field_label(&o, "status.replicas");
                assert_eq!(s.row(obj, &ctx).len(), columns, "{} row of {obj}", def.kind);
                assert_eq!(s.row(&o, &ctx).len(), columns, "{} row of defaulted {obj}", def.kind);
            }
        }
    }
}
