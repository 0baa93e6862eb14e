//! ResourceQuotas and LimitRanges: resource names and quantities, LimitRange's
//! container defaults (default limit from max, default request from limit or min)
//! and ordering rules, and their tables (LimitRange has no printer upstream, so it
//! prints `Created At`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem, ResourceQuota};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as QuantityString;
use serde_json::{Value, json};

use crate::kinds::common::pod_spec::canonicalize_resource_map;
use crate::kinds::common::printing::since_time;
use crate::kinds::common::quantity::{QUANTITY_FORMAT_MESSAGE, Quantity};
use crate::kinds::common::typed::decode_or_default;
use crate::strategy::{Context, Strategy, decode, normalize_as, typed};
use crate::table::Column;
use crate::validation::names::qualified_name;
use crate::validation::{FieldError, FieldPath};

/// Quota names without a domain that upstream accepts.
const STANDARD_QUOTA_RESOURCES: &[&str] = &[
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
    "cpu",
    "memory",
    "storage",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
];
/// Quota resources that count objects and so must be whole numbers.
const INTEGER_QUOTA_RESOURCES: &[&str] = &[
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];
const QUOTA_SCOPES: &[&str] = &[
    "BestEffort",
    "CrossNamespacePodAffinity",
    "NotBestEffort",
    "NotTerminating",
    "PriorityClass",
    "Terminating",
    "VolumeAttributesClass",
];

fn validate_quantity(
    name: &str,
    q: &QuantityString,
    path: &FieldPath,
    integer: bool,
) -> (Option<Quantity>, Vec<FieldError>) {
    let Some(parsed) = Quantity::parse(&q.0) else {
        return (None, vec![FieldError::invalid(path, q.0.as_str(), QUANTITY_FORMAT_MESSAGE)]);
    };
    let mut errs = Vec::new();
    if parsed.is_negative() {
        errs.push(FieldError::invalid(path, parsed.canonical(), "must be greater than or equal to 0"));
    }
    if integer && parsed.milli_value() % 1000 != 0 {
        errs.push(FieldError::invalid(path, parsed.canonical(), "must be an integer"));
    }
    let _ = name;
    (Some(parsed), errs)
}

fn validate_quota_resource_name(name: &str, path: &FieldPath) -> Vec<FieldError> {
    let mut errs: Vec<FieldError> =
        qualified_name(name).into_iter().map(|m| FieldError::invalid(path, name, m)).collect();
    let standard = STANDARD_QUOTA_RESOURCES.contains(&name)
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-");
    if errs.is_empty() && !name.contains('/') && !standard {
        errs.push(FieldError::invalid(path, name, "must be a standard resource for quota"));
    }
    errs
}

pub struct ResourceQuotaStrategy;

impl Strategy for ResourceQuotaStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<ResourceQuota>(obj)
    }

    fn default(&self, obj: &mut Value) {
        typed::<ResourceQuota>(obj, |q| {
            if let Some(spec) = q.spec.as_mut() {
                canonicalize_resource_map(&mut spec.hard);
            }
        });
    }

    fn has_status(&self) -> bool {
        true
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let quota = match decode::<ResourceQuota>(obj) {
            Ok(q) => q,
            Err(e) => return vec![FieldError::invalid("spec", Value::Null, e)],
        };
        let spec = quota.spec.unwrap_or_default();
        let path = FieldPath::root("spec");
        let mut errs = Vec::new();
        for (name, q) in spec.hard.iter().flatten() {
            let p = path.child("hard").key(name);
            errs.extend(validate_quota_resource_name(name, &p));
            let integer = INTEGER_QUOTA_RESOURCES.contains(&name.as_str()) || name.starts_with("count/");
            errs.extend(validate_quantity(name, q, &p, integer).1);
        }
        for (i, scope) in spec.scopes.iter().flatten().enumerate() {
            if !QUOTA_SCOPES.contains(&scope.as_str()) {
                errs.push(FieldError::not_supported(path.child("scopes").index(i), scope.as_str(), QUOTA_SCOPES));
            }
        }
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new(
                "Request",
                "string",
                "Request represents a minimum amount of cpu/memory that a container may consume.",
            ),
            Column::new(
                "Limit",
                "string",
                "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
            ),
            Column::age(),
        ]
    }

    /// `name: used/hard` pairs from status, limits in their own column.
    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let quota: ResourceQuota = decode_or_default(obj);
        let status = quota.status.clone().unwrap_or_default();
        let hard = status.hard.unwrap_or_default();
        let used = status.used.unwrap_or_default();
        let canon = |q: Option<&QuantityString>| {
            q.map_or_else(|| "0".to_string(), |q| Quantity::parse(&q.0).map_or(q.0.clone(), |p| p.canonical()))
        };
        let (mut requests, mut limits) = (Vec::new(), Vec::new());
        for (name, h) in &hard {
            let cell = format!("{name}: {}/{}", canon(used.get(name)), canon(Some(h)));
            if name.split('.').next() == Some("limits") && name.contains('.') {
                limits.push(cell);
            } else {
                requests.push(cell);
            }
        }
        vec![
            json!(requests.join(", ")),
            json!(limits.join(", ")),
            json!(since_time(quota.metadata.creation_timestamp.as_ref(), ctx)),
        ]
    }
}

pub struct LimitRangeStrategy;

const LIMIT_TYPES: &[&str] = &["Container", "PersistentVolumeClaim", "Pod"];

/// `SetDefaults_LimitRangeItem` for container limits.
fn default_item(item: &mut LimitRangeItem) {
    if item.type_ == "Container" {
        let default = item.default.get_or_insert_with(BTreeMap::new);
        for (k, v) in item.max.iter().flatten() {
            default.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let default = default.clone();
        let request = item.default_request.get_or_insert_with(BTreeMap::new);
        for (k, v) in default.iter().chain(item.min.iter().flatten()) {
            request.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    for map in
        [&mut item.default, &mut item.default_request, &mut item.max, &mut item.min, &mut item.max_limit_request_ratio]
    {
        canonicalize_resource_map(map);
    }
}

fn validate_item(item: &LimitRangeItem, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !LIMIT_TYPES.contains(&item.type_.as_str()) && !item.type_.contains('/') {
        errs.push(FieldError::not_supported(path.child("type"), item.type_.as_str(), LIMIT_TYPES));
    }
    if item.type_ == "Pod" {
        for (field, set) in [("default", &item.default), ("defaultRequest", &item.default_request)] {
            if set.as_ref().is_some_and(|m| !m.is_empty()) {
                errs.push(FieldError::forbidden(path.child(field), "may not be specified when `type` is 'Pod'"));
            }
        }
    }
    let mut parsed: BTreeMap<&str, BTreeMap<String, Quantity>> = BTreeMap::new();
    let maps = [
        ("max", &item.max),
        ("min", &item.min),
        ("default", &item.default),
        ("defaultRequest", &item.default_request),
        ("maxLimitRequestRatio", &item.max_limit_request_ratio),
    ];
    for (field, map) in maps {
        for (name, q) in map.iter().flatten() {
            let p = path.child(field).key(name);
            errs.extend(qualified_name(name).into_iter().map(|m| FieldError::invalid(&p, name.as_str(), m)));
            let (q, e) = validate_quantity(name, q, &p, false);
            errs.extend(e);
            if let Some(q) = q {
                parsed.entry(field).or_default().insert(name.clone(), q);
            }
        }
    }
    let get = |field: &str, k: &str| parsed.get(field).and_then(|m| m.get(k)).copied();
    let mut keys: Vec<&String> = parsed.values().flat_map(|m| m.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (min, max, def, req) = (get("min", k), get("max", k), get("default", k), get("defaultRequest", k));
        let mut check =
            |field: &str, a: Option<Quantity>, b: Option<Quantity>, what: &str, reported: Option<Quantity>| {
                if let (Some(a), Some(b)) = (a, b)
                    && a > b
                {
                    let value = reported.unwrap_or(a).canonical();
                    errs.push(FieldError::invalid(
                        path.child(field).key(k),
                        value,
                        what.replacen("{a}", &a.canonical(), 1).replacen("{b}", &b.canonical(), 1),
                    ));
                }
            };
        check("min", min, max, "min value {a} is greater than max value {b}", None);
        check("defaultRequest", min, req, "min value {a} is greater than default request value {b}", req);
        check("defaultRequest", req, max, "default request value {a} is greater than max value {b}", None);
        check("defaultRequest", req, def, "default request value {a} is greater than default limit value {b}", None);
        check("default", min, def, "min value {a} is greater than default value {b}", def);
        check("default", def, max, "default value {a} is greater than max value {b}", None);
    }
    errs
}

impl Strategy for LimitRangeStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<LimitRange>(obj)
    }

    fn default(&self, obj: &mut Value) {
        typed::<LimitRange>(obj, |lr| {
            for item in lr.spec.iter_mut().flat_map(|s| s.limits.iter_mut()) {
                default_item(item);
            }
        });
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let lr = match decode::<LimitRange>(obj) {
            Ok(l) => l,
            Err(e) => return vec![FieldError::invalid("spec", Value::Null, e)],
        };
        let path = FieldPath::root("spec").child("limits");
        let mut errs = Vec::new();
        let mut types = Vec::new();
        for (i, item) in lr.spec.iter().flat_map(|s| s.limits.iter()).enumerate() {
            let ip = path.index(i);
            if types.contains(&item.type_) {
                errs.push(FieldError::duplicate(ip.child("type"), item.type_.as_str()));
            }
            types.push(item.type_.clone());
            errs.extend(validate_item(item, &ip));
        }
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![Column {
            name: "Created At",
            ty: "date",
            format: "",
            description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
            priority: 0,
        }]
    }

    fn row(&self, obj: &Value, _ctx: &Context) -> Vec<Value> {
        vec![obj.pointer("/metadata/creationTimestamp").cloned().unwrap_or(Value::Null)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn quota_validation_and_row() {
        let mut q = json!({"metadata": {"name": "q", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"hard": {"pods": "10", "requests.cpu": "1000m", "limits.memory": "2Gi", "widgets": "1", "services": "1.5"}}});
        ResourceQuotaStrategy.normalize(&mut q).unwrap();
        ResourceQuotaStrategy.default(&mut q);
        assert_eq!(q["spec"]["hard"]["requests.cpu"], "1");
        assert_eq!(
            messages(ResourceQuotaStrategy.validate_create(&q)),
            vec![
                "spec.hard[services]: Invalid value: \"1500m\": must be an integer",
                "spec.hard[widgets]: Invalid value: \"widgets\": must be a standard resource for quota",
            ]
        );
        q["status"] = json!({"hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi"}, "used": {"pods": "3", "requests.cpu": "500m"}});
        let ctx = Context { now: "2024-01-01T00:05:00Z".parse().unwrap() };
        assert_eq!(
            ResourceQuotaStrategy.row(&q, &ctx),
            vec![json!("pods: 3/10, requests.cpu: 500m/1"), json!("limits.memory: 0/2Gi"), json!("5m")]
        );
    }

    #[test]
    fn limit_range_defaults_and_rules() {
        let mut lr = json!({"metadata": {"name": "l", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}}]}});
        LimitRangeStrategy.normalize(&mut lr).unwrap();
        LimitRangeStrategy.default(&mut lr);
        let item = &lr["spec"]["limits"][0];
        assert_eq!(item["default"], json!({"cpu": "2"}));
        assert_eq!(item["defaultRequest"], json!({"cpu": "2", "memory": "64Mi"}));
        assert!(LimitRangeStrategy.validate_create(&lr).is_empty());
        assert_eq!(LimitRangeStrategy.row(&lr, &Context::now()), vec![json!("2024-01-01T00:00:00Z")]);
        assert_eq!(LimitRangeStrategy.columns()[0].ty, "date");

        let bad = json!({"spec": {"limits": [
            {"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}},
            {"type": "Pod", "default": {"cpu": "1"}},
            {"type": "Pod"}
        ]}});
        assert_eq!(
            messages(LimitRangeStrategy.validate_create(&bad)),
            vec![
                "spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than max value 1",
                "spec.limits[1].default: Forbidden: may not be specified when `type` is 'Pod'",
                "spec.limits[2].type: Duplicate value: \"Pod\"",
            ]
        );
    }
}
