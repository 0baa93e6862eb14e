//! JSON patch (RFC 6902, `application/json-patch+json`): a list of `add`,
//! `remove`, `replace`, `move`, `copy` and `test` operations on JSON pointers,
//! applied in order, all or nothing. `kubectl rollout undo` and
//! `kubectl patch --type=json` send these.

use serde_json::Value;

use super::PatchError;
use super::json_pointer::{Pointer, parse_index};

/// Upstream's cap on the number of operations in one patch.
pub const MAX_OPERATIONS: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Add { path: Pointer, value: Value },
    Remove { path: Pointer },
    Replace { path: Pointer, value: Value },
    Move { from: Pointer, path: Pointer },
    Copy { from: Pointer, path: Pointer },
    Test { path: Pointer, value: Value },
}

/// One parsed operation with the text it came from, for error messages.
struct Operation {
    op: Op,
    name: String,
    path_text: String,
}

/// Applies the JSON patch `patch` (a JSON array of operations) to `doc`.
pub fn apply(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = parse(patch)?;
    let mut doc = doc.clone();
    for (i, operation) in ops.iter().enumerate() {
        run(&mut doc, &operation.op).map_err(|why| {
            PatchError::Unprocessable(format!(
                "json patch operation {i} ({} at {:?}) failed: {why}",
                operation.name, operation.path_text
            ))
        })?;
    }
    Ok(doc)
}

fn parse(patch: &Value) -> Result<Vec<Operation>, PatchError> {
    let bad = |why: String| PatchError::BadRequest(why);
    let list = patch.as_array().ok_or_else(|| bad("a JSON patch must be a JSON array of operations".into()))?;
    if list.len() > MAX_OPERATIONS {
        return Err(PatchError::TooLarge(format!(
            "the allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {}",
            list.len()
        )));
    }
    list.iter()
        .enumerate()
        .map(|(i, raw)| {
            let fail = |why: &str| bad(format!("json patch operation {i}: {why}"));
            let obj = raw.as_object().ok_or_else(|| fail("expected an object"))?;
            let name = obj.get("op").and_then(Value::as_str).ok_or_else(|| fail("missing \"op\""))?;
            let path_text = obj.get("path").and_then(Value::as_str).ok_or_else(|| fail("missing \"path\""))?;
            let path = Pointer::parse(path_text).map_err(|e| fail(&e))?;
            let value = || obj.get("value").cloned().ok_or_else(|| fail(&format!("{name:?} needs a \"value\"")));
            let from = || -> Result<Pointer, PatchError> {
                let text = obj
                    .get("from")
                    .and_then(Value::as_str)
                    .ok_or_else(|| fail(&format!("{name:?} needs a \"from\"")))?;
                Pointer::parse(text).map_err(|e| fail(&e))
            };
            let op = match name {
                "add" => Op::Add { path, value: value()? },
                "remove" => Op::Remove { path },
                "replace" => Op::Replace { path, value: value()? },
                "move" => Op::Move { from: from()?, path },
                "copy" => Op::Copy { from: from()?, path },
                "test" => Op::Test { path, value: value()? },
                other => return Err(fail(&format!("unknown operation {other:?}"))),
            };
            Ok(Operation { op, name: name.to_string(), path_text: path_text.to_string() })
        })
        .collect()
}

fn run(doc: &mut Value, op: &Op) -> Result<(), String> {
    match op {
        Op::Add { path, value } => add(doc, path, value.clone()),
        Op::Remove { path } => remove(doc, path).map(drop),
        Op::Replace { path, value } => {
            let target = get_mut(doc, path).ok_or("the path does not exist")?;
            *target = value.clone();
            Ok(())
        }
        Op::Move { from, path } => {
            if path.is_inside(from) {
                return Err("a value cannot be moved into one of its children".into());
            }
            if from == path {
                return get(doc, from).map(drop).ok_or_else(|| "the \"from\" path does not exist".into());
            }
            let value = remove(doc, from).map_err(|e| format!("\"from\": {e}"))?;
            add(doc, path, value)
        }
        Op::Copy { from, path } => {
            let value = get(doc, from).cloned().ok_or("the \"from\" path does not exist")?;
            add(doc, path, value)
        }
        Op::Test { path, value } => match get(doc, path) {
            Some(actual) if actual == value => Ok(()),
            // A missing value tests equal to null, as in the library upstream uses.
            None if value.is_null() => Ok(()),
            Some(actual) => Err(format!("test failed: the value is {actual}, not {value}")),
            None => Err("test failed: the path does not exist".into()),
        },
    }
}

fn get<'a>(doc: &'a Value, path: &Pointer) -> Option<&'a Value> {
    path.0.iter().try_fold(doc, |node, segment| match node {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => items.get(parse_index(segment)?),
        _ => None,
    })
}

fn get_mut<'a>(doc: &'a mut Value, path: &Pointer) -> Option<&'a mut Value> {
    path.0.iter().try_fold(doc, |node, segment| match node {
        Value::Object(map) => map.get_mut(segment),
        Value::Array(items) => items.get_mut(parse_index(segment)?),
        _ => None,
    })
}

fn add(doc: &mut Value, path: &Pointer, value: Value) -> Result<(), String> {
    let Some((parent, last)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, &parent).ok_or("the parent path does not exist")? {
        Value::Object(map) => {
            map.insert(last.to_string(), value);
            Ok(())
        }
        Value::Array(items) => {
            let index = if last == "-" { items.len() } else { parse_index(last).ok_or("invalid array index")? };
            if index > items.len() {
                return Err(format!("index {index} is out of range (the list has {} items)", items.len()));
            }
            items.insert(index, value);
            Ok(())
        }
        _ => Err("the parent is neither an object nor a list".into()),
    }
}

fn remove(doc: &mut Value, path: &Pointer) -> Result<Value, String> {
    let (parent, last) = path.split_last().ok_or("the whole document cannot be removed")?;
    match get_mut(doc, &parent).ok_or("the path does not exist")? {
        Value::Object(map) => map.remove(last).ok_or_else(|| "the path does not exist".into()),
        Value::Array(items) => {
            let index = parse_index(last).ok_or("invalid array index")?;
            if index >= items.len() {
                return Err(format!("index {index} is out of range (the list has {} items)", items.len()));
            }
            Ok(items.remove(index))
        }
        _ => Err("the path does not exist".into()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn operations() {
        let doc = json!({"a": {"b": [1, 2, 3]}, "c": "x", "d~e/f": 1});
        let cases = [
            (
                json!([{"op": "add", "path": "/a/n", "value": 5}]),
                json!({"a": {"b": [1, 2, 3], "n": 5}, "c": "x", "d~e/f": 1}),
            ),
            (
                json!([{"op": "add", "path": "/a/b/1", "value": 9}]),
                json!({"a": {"b": [1, 9, 2, 3]}, "c": "x", "d~e/f": 1}),
            ),
            (
                json!([{"op": "add", "path": "/a/b/-", "value": 4}]),
                json!({"a": {"b": [1, 2, 3, 4]}, "c": "x", "d~e/f": 1}),
            ),
            (
                json!([{"op": "add", "path": "/a/b/3", "value": 4}]),
                json!({"a": {"b": [1, 2, 3, 4]}, "c": "x", "d~e/f": 1}),
            ),
            (
                json!([{"op": "add", "path": "/c", "value": null}]),
                json!({"a": {"b": [1, 2, 3]}, "c": null, "d~e/f": 1}),
            ),
            (json!([{"op": "remove", "path": "/a/b/0"}]), json!({"a": {"b": [2, 3]}, "c": "x", "d~e/f": 1})),
            (json!([{"op": "remove", "path": "/d~0e~1f"}]), json!({"a": {"b": [1, 2, 3]}, "c": "x"})),
            (
                json!([{"op": "replace", "path": "/c", "value": {"y": 1}}]),
                json!({"a": {"b": [1, 2, 3]}, "c": {"y": 1}, "d~e/f": 1}),
            ),
            (
                json!([{"op": "move", "from": "/c", "path": "/a/c"}]),
                json!({"a": {"b": [1, 2, 3], "c": "x"}, "d~e/f": 1}),
            ),
            (
                json!([{"op": "move", "from": "/a/b/0", "path": "/a/b/2"}]),
                json!({"a": {"b": [2, 3, 1]}, "c": "x", "d~e/f": 1}),
            ),
            (
                json!([{"op": "copy", "from": "/a/b", "path": "/z"}]),
                json!({"a": {"b": [1, 2, 3]}, "c": "x", "d~e/f": 1, "z": [1, 2, 3]}),
            ),
            (
                json!([{"op": "test", "path": "/a/b/1", "value": 2}, {"op": "remove", "path": "/c"}]),
                json!({"a": {"b": [1, 2, 3]}, "d~e/f": 1}),
            ),
            (json!([{"op": "test", "path": "/missing", "value": null}]), doc.clone()),
            (json!([{"op": "replace", "path": "", "value": {"new": true}}]), json!({"new": true})),
            (json!([]), doc.clone()),
        ];
        for (patch, want) in cases {
            assert_eq!(apply(&doc, &patch).unwrap(), want, "patch {patch}");
        }
    }

    #[test]
    fn failing_operations_name_the_operation_and_path() {
        let doc = json!({"a": {"b": [1, 2, 3]}, "c": "x"});
        let cases = [
            (
                json!([{"op": "replace", "path": "/nope", "value": 1}]),
                "json patch operation 0 (replace at \"/nope\") failed: the path does not exist",
            ),
            (
                json!([{"op": "remove", "path": "/a/x"}]),
                "json patch operation 0 (remove at \"/a/x\") failed: the path does not exist",
            ),
            (
                json!([{"op": "add", "path": "/x/y", "value": 1}]),
                "json patch operation 0 (add at \"/x/y\") failed: the parent path does not exist",
            ),
            (json!([{"op": "add", "path": "/a/b/5", "value": 1}]), "index 5 is out of range (the list has 3 items)"),
            (json!([{"op": "add", "path": "/a/b/01", "value": 1}]), "invalid array index"),
            (json!([{"op": "remove", "path": "/a/b/-"}]), "invalid array index"),
            (json!([{"op": "test", "path": "/c", "value": "y"}]), "test failed: the value is \"x\", not \"y\""),
            (json!([{"op": "test", "path": "/q", "value": 1}]), "test failed: the path does not exist"),
            (json!([{"op": "move", "from": "/a", "path": "/a/b/x"}]), "cannot be moved into one of its children"),
            (json!([{"op": "copy", "from": "/q", "path": "/r"}]), "the \"from\" path does not exist"),
            (json!([{"op": "remove", "path": ""}]), "the whole document cannot be removed"),
            (json!([{"op": "add", "path": "/c/d", "value": 1}]), "the parent is neither an object nor a list"),
            (
                json!([{"op": "add", "path": "/n", "value": 1}, {"op": "remove", "path": "/zz"}]),
                "json patch operation 1 (remove at \"/zz\")",
            ),
        ];
        for (patch, want) in cases {
            let err = apply(&doc, &patch).unwrap_err();
            assert!(matches!(err, PatchError::Unprocessable(_)), "{patch}: {err:?}");
            assert!(err.to_string().contains(want), "{patch}: got {err}, want {want}");
        }
    }

    #[test]
    fn malformed_patches_are_bad_requests() {
        let cases = [
            (json!({"op": "add"}), "must be a JSON array"),
            (json!([1]), "operation 0: expected an object"),
            (json!([{"path": "/a"}]), "missing \"op\""),
            (json!([{"op": "add", "value": 1}]), "missing \"path\""),
            (json!([{"op": "add", "path": "/a"}]), "\"add\" needs a \"value\""),
            (json!([{"op": "move", "path": "/a"}]), "\"move\" needs a \"from\""),
            (json!([{"op": "frobnicate", "path": "/a"}]), "unknown operation \"frobnicate\""),
            (json!([{"op": "remove", "path": "a"}]), "invalid JSON pointer"),
        ];
        for (patch, want) in cases {
            let err = apply(&json!({"a": 1}), &patch).unwrap_err();
            assert!(matches!(err, PatchError::BadRequest(_)), "{patch}: {err:?}");
            assert!(err.to_string().contains(want), "{patch}: got {err}, want {want}");
        }
    }

    #[test]
    fn failure_leaves_no_partial_result() {
        let doc = json!({"a": 1});
        let patch = json!([{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/zz"}]);
        assert!(apply(&doc, &patch).is_err());
        assert_eq!(doc, json!({"a": 1}));
    }

    #[test]
    fn too_many_operations() {
        let patch = Value::Array(vec![json!({"op": "test", "path": "", "value": null}); MAX_OPERATIONS + 1]);
        assert!(matches!(apply(&json!({}), &patch), Err(PatchError::TooLarge(_))));
    }

    #[test]
    fn rollout_undo_body() {
        let deploy = json!({
            "metadata": {"name": "web", "annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}}
        });
        let patch = json!([
            {"op": "replace", "path": "/spec/template", "value": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}},
            {"op": "replace", "path": "/metadata/annotations", "value": {"deployment.kubernetes.io/revision": "1"}}
        ]);
        let out = apply(&deploy, &patch).unwrap();
        assert_eq!(out["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1");
        assert_eq!(out["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
        assert_eq!(out["spec"]["replicas"], 2);
    }
}
