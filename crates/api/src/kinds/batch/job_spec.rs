//! Validation of a `JobSpec`, shared by Jobs and CronJobs' job templates
//! (upstream's `validateJobSpec`).

use serde_json::Value;

use crate::kinds::support::checks::{domain_prefixed_path, nonnegative, nonnegative_at};
use crate::kinds::support::pod_template::validate_pod_template;
use crate::validation::{FieldError, FieldPath, names};

const MAX_PARALLELISM_FOR_INDEXED_JOB: i64 = 100_000;
const MAX_FAILED_INDEXES_FOR_INDEXED_JOB: i64 = 100_000;
const COMPLETIONS_SOFT_LIMIT: i64 = 100_000;
const PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS: i64 = 10_000;
const MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS: i64 = 10_000;
const MAX_POD_FAILURE_POLICY_RULES: usize = 20;
const MAX_ON_EXIT_CODES_VALUES: usize = 255;
const MAX_ON_POD_CONDITIONS_PATTERNS: usize = 20;
const MAX_MANAGED_BY_LENGTH: usize = 63;
const MAX_SUCCEEDED_INDEXES_LENGTH: usize = 64 * 1024;
const MAX_SUCCESS_POLICY_RULES: usize = 20;

/// `validateJobSpec`: everything but the selector. `spec` is the JobSpec (may be null).
pub fn validate_job_spec(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let int = |name: &str| spec.get(name).and_then(Value::as_i64);
    for name in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
    ] {
        errs.extend(nonnegative_at(spec, &format!("/{name}"), &path.child(name)));
    }
    if let Some(max_failed) = int("maxFailedIndexes") {
        errs.extend(nonnegative(max_failed, &path.child("maxFailedIndexes")));
        if int("backoffLimitPerIndex").is_none() {
            errs.push(FieldError::required(path.child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"));
        }
    }
    if let Some(managed_by) = spec.get("managedBy").and_then(Value::as_str) {
        errs.extend(domain_prefixed_path(managed_by, &path.child("managedBy")));
        if managed_by.len() > MAX_MANAGED_BY_LENGTH {
            errs.push(FieldError::too_long(path.child("managedBy"), MAX_MANAGED_BY_LENGTH));
        }
    }
    let mode = spec.get("completionMode").and_then(Value::as_str);
    let indexed = mode == Some("Indexed");
    if let Some(mode) = mode
        && mode != "NonIndexed"
        && mode != "Indexed"
    {
        errs.push(FieldError::not_supported(path.child("completionMode"), mode, &["NonIndexed", "Indexed"]));
    }
    if indexed {
        errs.extend(indexed_rules(spec, path));
    } else {
        for name in ["backoffLimitPerIndex", "maxFailedIndexes"] {
            if let Some(v) = int(name) {
                errs.push(FieldError::invalid(path.child(name), v, "requires indexed completion mode"));
            }
        }
    }
    if let Some(policy) = spec.get("podFailurePolicy").filter(|v| !v.is_null()) {
        errs.extend(pod_failure_policy(spec, policy, &path.child("podFailurePolicy")));
    }
    if let Some(policy) = spec.get("successPolicy").filter(|v| !v.is_null()) {
        if indexed {
            errs.extend(success_policy(spec, policy, &path.child("successPolicy")));
        } else {
            errs.push(FieldError::invalid(
                path.child("successPolicy"),
                policy.clone(),
                "requires indexed completion mode",
            ));
        }
    }
    if let Some(replacement) = spec.get("podReplacementPolicy").and_then(Value::as_str) {
        let replacement_path = path.child("podReplacementPolicy");
        if spec.get("podFailurePolicy").is_some_and(|v| !v.is_null()) {
            if replacement != "Failed" {
                errs.push(FieldError::not_supported(&replacement_path, replacement, &["Failed"]));
            }
        } else if replacement != "Failed" && replacement != "TerminatingOrFailed" {
            errs.push(FieldError::not_supported(&replacement_path, replacement, &["Failed", "TerminatingOrFailed"]));
        }
    }
    let template = spec.get("template").unwrap_or(&Value::Null);
    errs.extend(validate_pod_template(template, &path.child("template")));
    let restart_path = path.child("template").child("spec").child("restartPolicy");
    let restart = template.pointer("/spec/restartPolicy").and_then(Value::as_str).unwrap_or_default();
    if restart == "Always" || restart.is_empty() {
        errs.push(FieldError::required(&restart_path, "valid values: \"OnFailure\", \"Never\""));
    } else if restart != "OnFailure" && restart != "Never" {
        errs.push(FieldError::not_supported(&restart_path, restart, &["OnFailure", "Never"]));
    } else if spec.get("podFailurePolicy").is_some_and(|v| !v.is_null()) && restart != "Never" {
        errs.push(FieldError::invalid(
            &restart_path,
            restart,
            "only \"Never\" is supported when podFailurePolicy is specified",
        ));
    }
    errs
}

fn indexed_rules(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let int = |name: &str| spec.get(name).and_then(Value::as_i64);
    let completions = int("completions");
    let parallelism = int("parallelism");
    let max_failed = int("maxFailedIndexes");
    if completions.is_none() {
        errs.push(FieldError::required(path.child("completions"), "when completion mode is Indexed"));
    }
    if let Some(p) = parallelism.filter(|p| *p > MAX_PARALLELISM_FOR_INDEXED_JOB) {
        errs.push(FieldError::invalid(
            path.child("parallelism"),
            p,
            format!("must be less than or equal to {MAX_PARALLELISM_FOR_INDEXED_JOB} when completion mode is Indexed"),
        ));
    }
    if let (Some(c), Some(m)) = (completions, max_failed)
        && m > c
    {
        errs.push(FieldError::invalid(path.child("maxFailedIndexes"), m, "must be less than or equal to completions"));
    }
    if let Some(m) = max_failed.filter(|m| *m > MAX_FAILED_INDEXES_FOR_INDEXED_JOB) {
        errs.push(FieldError::invalid(
            path.child("maxFailedIndexes"),
            m,
            format!("must be less than or equal to {MAX_FAILED_INDEXES_FOR_INDEXED_JOB}"),
        ));
    }
    let high = completions.is_some_and(|c| c > COMPLETIONS_SOFT_LIMIT) && int("backoffLimitPerIndex").is_some();
    if high {
        if max_failed.is_none() {
            errs.push(FieldError::required(
                path.child("maxFailedIndexes"),
                format!("must be specified when completions is above {COMPLETIONS_SOFT_LIMIT}"),
            ));
        }
        let suffix =
            format!("when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index");
        if let Some(p) = parallelism.filter(|p| *p > PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS) {
            errs.push(FieldError::invalid(
                path.child("parallelism"),
                p,
                format!("must be less than or equal to {PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS} {suffix}"),
            ));
        }
        if let Some(m) = max_failed.filter(|m| *m > MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS) {
            errs.push(FieldError::invalid(
                path.child("maxFailedIndexes"),
                m,
                format!("must be less than or equal to {MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS} {suffix}"),
            ));
        }
    }
    errs
}

fn pod_failure_policy(spec: &Value, policy: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rules = policy.get("rules").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let rules_path = path.child("rules");
    if rules.len() > MAX_POD_FAILURE_POLICY_RULES {
        errs.push(FieldError::too_many(&rules_path, MAX_POD_FAILURE_POLICY_RULES));
    }
    let mut containers: Vec<&str> = Vec::new();
    for list in ["containers", "initContainers"] {
        let items = spec.pointer(&format!("/template/spec/{list}")).and_then(Value::as_array);
        containers.extend(items.into_iter().flatten().filter_map(|c| c.get("name").and_then(Value::as_str)));
    }
    const ACTIONS: &[&str] = &["Count", "FailIndex", "FailJob", "Ignore"];
    for (i, rule) in rules.iter().enumerate() {
        let rule_path = rules_path.index(i);
        let action_path = rule_path.child("action");
        match rule.get("action").and_then(Value::as_str).unwrap_or_default() {
            "" => errs.push(FieldError::required(
                &action_path,
                "valid values: [\"Count\" \"FailIndex\" \"FailJob\" \"Ignore\"]",
            )),
            "FailIndex" if spec.get("backoffLimitPerIndex").is_none_or(Value::is_null) => {
                errs.push(FieldError::invalid(
                    &action_path,
                    "FailIndex",
                    "requires the backoffLimitPerIndex to be set",
                ));
            }
            a if !ACTIONS.contains(&a) => errs.push(FieldError::not_supported(&action_path, a, ACTIONS)),
            _ => {}
        }
        let exit_codes = rule.get("onExitCodes").filter(|v| !v.is_null());
        let conditions = rule.get("onPodConditions").and_then(Value::as_array).filter(|a| !a.is_empty());
        if let Some(req) = exit_codes {
            errs.extend(on_exit_codes(req, &rule_path.child("onExitCodes"), &containers));
        }
        if let Some(patterns) = conditions {
            errs.extend(on_pod_conditions(patterns, &rule_path.child("onPodConditions")));
        }
        // Upstream omits the value from these two messages; `null` stands in for it.
        match (exit_codes.is_some(), conditions.is_some()) {
            (true, true) => errs.push(FieldError::invalid(
                &rule_path,
                Value::Null,
                "specifying both OnExitCodes and OnPodConditions is not supported",
            )),
            (false, false) => errs.push(FieldError::invalid(
                &rule_path,
                Value::Null,
                "specifying one of OnExitCodes and OnPodConditions is required",
            )),
            _ => {}
        }
    }
    errs
}

fn on_pod_conditions(patterns: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if patterns.len() > MAX_ON_POD_CONDITIONS_PATTERNS {
        errs.push(FieldError::too_many(path, MAX_ON_POD_CONDITIONS_PATTERNS));
    }
    for (j, pattern) in patterns.iter().enumerate() {
        let p = path.index(j);
        let ty = pattern.get("type").and_then(Value::as_str).unwrap_or_default();
        for msg in names::qualified_name(ty) {
            errs.push(FieldError::invalid(p.child("type"), ty, msg));
        }
        match pattern.get("status").and_then(Value::as_str).unwrap_or_default() {
            "" => errs.push(FieldError::required(p.child("status"), "valid values: [\"False\" \"True\" \"Unknown\"]")),
            "False" | "True" | "Unknown" => {}
            s => errs.push(FieldError::not_supported(p.child("status"), s, &["False", "True", "Unknown"])),
        }
    }
    errs
}

fn on_exit_codes(req: &Value, path: &FieldPath, containers: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let op = req.get("operator").and_then(Value::as_str).unwrap_or_default();
    match op {
        "" => errs.push(FieldError::required(path.child("operator"), "valid values: [\"In\" \"NotIn\"]")),
        "In" | "NotIn" => {}
        other => errs.push(FieldError::not_supported(path.child("operator"), other, &["In", "NotIn"])),
    }
    if let Some(name) = req.get("containerName").and_then(Value::as_str)
        && !containers.contains(&name)
    {
        errs.push(FieldError::invalid(
            path.child("containerName"),
            name,
            "must be one of the container or initContainer names in the pod template",
        ));
    }
    let values: Vec<i64> = req
        .get("values")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    let values_path = path.child("values");
    if values.is_empty() {
        errs.push(FieldError::invalid(&values_path, Value::Array(Vec::new()), "at least one value is required"));
    } else if values.len() > MAX_ON_EXIT_CODES_VALUES {
        errs.push(FieldError::too_many(&values_path, MAX_ON_EXIT_CODES_VALUES));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (j, v) in values.iter().enumerate() {
        if op == "In" && *v == 0 {
            errs.push(FieldError::invalid(values_path.index(j), *v, "must not be 0 for the In operator"));
        }
        if !seen.insert(*v) {
            errs.push(FieldError::duplicate(values_path.index(j), *v));
        }
    }
    if values.windows(2).any(|w| w[0] > w[1]) {
        errs.push(FieldError::invalid(&values_path, Value::from(values.clone()), "must be ordered"));
    }
    errs
}

fn success_policy(spec: &Value, policy: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rules = policy.get("rules").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let rules_path = path.child("rules");
    if rules.is_empty() {
        errs.push(FieldError::required(
            &rules_path,
            "at least one rules must be specified when the successPolicy is specified",
        ));
    }
    if rules.len() > MAX_SUCCESS_POLICY_RULES {
        errs.push(FieldError::too_many(&rules_path, MAX_SUCCESS_POLICY_RULES));
    }
    let completions = spec.get("completions").and_then(Value::as_i64).unwrap_or(0);
    for (i, rule) in rules.iter().enumerate() {
        let rule_path = rules_path.index(i);
        let count = rule.get("succeededCount").and_then(Value::as_i64);
        let indexes = rule.get("succeededIndexes").and_then(Value::as_str);
        if count.is_none() && indexes.is_none() {
            errs.push(FieldError::required(
                &rule_path,
                "at least one of succeededCount or succeededIndexes must be specified",
            ));
        }
        let mut total = 0;
        if let Some(indexes) = indexes {
            let p = rule_path.child("succeededIndexes");
            if indexes.len() > MAX_SUCCEEDED_INDEXES_LENGTH {
                errs.push(FieldError::too_long(&p, MAX_SUCCEEDED_INDEXES_LENGTH));
            }
            match indexes_total(indexes, completions) {
                Ok(t) => total = t,
                Err(e) => errs.push(FieldError::invalid(&p, indexes, format!("error parsing succeededIndexes: {e}"))),
            }
        }
        if let Some(count) = count {
            let p = rule_path.child("succeededCount");
            errs.extend(nonnegative(count, &p));
            if count > completions {
                errs.push(FieldError::invalid(
                    &p,
                    count,
                    format!("must be less than or equal to {completions} (the number of specified completions)"),
                ));
            }
            if indexes.is_some() && count > total {
                errs.push(FieldError::invalid(
                    &p,
                    count,
                    format!("must be less than or equal to {total} (the number of indexes in the specified succeededIndexes field)"),
                ));
            }
        }
    }
    errs
}

/// `validateIndexesFormat`: the number of indexes in an interval list like `1,3-5,7`.
pub fn indexes_total(indexes: &str, completions: i64) -> Result<i64, String> {
    if indexes.is_empty() {
        return Ok(0);
    }
    let atoi = |s: &str| s.parse::<i64>().map_err(|_| format!("cannot convert string to integer for index: {s:?}"));
    let mut last: Option<i64> = None;
    let mut total = 0;
    for interval in indexes.split(',') {
        let limits: Vec<&str> = interval.split('-').collect();
        if limits.len() > 2 {
            return Err(format!(
                "the fragment {interval:?} violates the requirement that an index interval can have at most two parts separated by '-'"
            ));
        }
        let x = atoi(limits[0])?;
        if x >= completions {
            return Err(format!("too large index: {:?}", limits[0]));
        }
        if let Some(prev) = last.filter(|prev| *prev >= x) {
            return Err(format!("non-increasing order, previous: {prev}, current: {x}"));
        }
        total += 1;
        last = Some(x);
        if let Some(high) = limits.get(1) {
            let y = atoi(high)?;
            if y >= completions {
                return Err(format!("too large index: {high:?}"));
            }
            if x >= y {
                return Err(format!("non-increasing order, previous: {x}, current: {y}"));
            }
            total += y - x;
            last = Some(y);
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Value {
        // As validation sees it: after defaulting.
        json!({"template": {"spec": {"restartPolicy": "Never", "dnsPolicy": "ClusterFirst", "containers": [{"name": "main",
            "image": "busybox", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}]}}})
    }

    fn check(spec: &Value) -> Vec<String> {
        validate_job_spec(spec, &FieldPath::root("spec")).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn restart_policy_rules() {
        assert!(check(&spec()).is_empty());
        let mut s = spec();
        s["template"]["spec"]["restartPolicy"] = json!("Always");
        assert_eq!(
            check(&s),
            vec!["spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""]
        );
        s["template"]["spec"]["restartPolicy"] = json!("Sometimes");
        assert_eq!(
            check(&s),
            // The pod template's own rule and the Job's, as upstream reports both.
            vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                "spec.template.spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"OnFailure\", \"Never\""
            ]
        );
    }

    #[test]
    fn counts_and_modes() {
        let mut s = spec();
        s["parallelism"] = json!(-1);
        s["completions"] = json!(-1);
        s["backoffLimit"] = json!(-1);
        s["completionMode"] = json!("Sideways");
        let errs = check(&s);
        assert_eq!(
            errs,
            vec![
                "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
                "spec.completions: Invalid value: -1: must be greater than or equal to 0",
                "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0",
                "spec.completionMode: Unsupported value: \"Sideways\": supported values: \"NonIndexed\", \"Indexed\"",
            ]
        );
        let mut s = spec();
        s["completionMode"] = json!("Indexed");
        s["maxFailedIndexes"] = json!(1);
        assert_eq!(
            check(&s),
            vec![
                "spec.backoffLimitPerIndex: Required value: when maxFailedIndexes is specified",
                "spec.completions: Required value: when completion mode is Indexed",
            ]
        );
        let mut s = spec();
        s["backoffLimitPerIndex"] = json!(1);
        assert_eq!(check(&s), vec!["spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode"]);
    }

    #[test]
    fn pod_failure_policy_rules() {
        let mut s = spec();
        s["template"]["spec"]["restartPolicy"] = json!("OnFailure");
        s["podFailurePolicy"] =
            json!({"rules": [{"action": "Explode", "onExitCodes": {"operator": "In", "values": [0, 3, 2]}}]});
        s["podReplacementPolicy"] = json!("TerminatingOrFailed");
        let errs = check(&s);
        for want in [
            "spec.podFailurePolicy.rules[0].action: Unsupported value: \"Explode\": supported values: \"Count\", \"FailIndex\", \"FailJob\", \"Ignore\"",
            "spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator",
            "spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: [0,3,2]: must be ordered",
            "spec.podReplacementPolicy: Unsupported value: \"TerminatingOrFailed\": supported values: \"Failed\"",
            "spec.template.spec.restartPolicy: Invalid value: \"OnFailure\": only \"Never\" is supported when podFailurePolicy is specified",
        ] {
            assert!(errs.contains(&want.to_string()), "missing {want:?} in {errs:?}");
        }
    }

    #[test]
    fn index_lists() {
        assert_eq!(indexes_total("1,3-5,7", 10), Ok(5));
        assert_eq!(indexes_total("", 10), Ok(0));
        assert_eq!(indexes_total("3,1", 10), Err("non-increasing order, previous: 3, current: 1".to_string()));
        assert_eq!(indexes_total("12", 10), Err("too large index: \"12\"".to_string()));
        assert_eq!(indexes_total("a", 10), Err("cannot convert string to integer for index: \"a\"".to_string()));
    }
}
