//! PersistentVolumes and PersistentVolumeClaims: defaults (reclaim policy, volume
//! mode, phase), access-mode, capacity and source rules, what updates may change,
//! and their rows.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, PersistentVolumeSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as QuantityString;
use serde_json::{Value, json};

use crate::kinds::common::pod_spec::canonicalize_resource_map;
use crate::kinds::common::printing::since_time;
use crate::kinds::common::quantity::{QUANTITY_FORMAT_MESSAGE, Quantity};
use crate::kinds::common::typed::decode_or_default;
use crate::meta;
use crate::strategy::{Context, Strategy, decode, normalize_as, typed};
use crate::table::Column;
use crate::validation::names::dns1123_subdomain;
use crate::validation::{FieldError, FieldPath};

pub const ACCESS_MODES: &[&str] = &["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];
const RECLAIM_POLICIES: &[&str] = &["Delete", "Recycle", "Retain"];
const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];
const CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

/// `RWO,ROX,RWX,RWOP` in upstream's fixed order.
pub fn access_modes_string(modes: &[String]) -> String {
    [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
        .iter()
        .filter(|(m, _)| modes.iter().any(|x| x == m))
        .map(|(_, short)| *short)
        .collect::<Vec<_>>()
        .join(",")
}

fn storage_class(annotations: Option<&BTreeMap<String, String>>, spec_class: Option<&String>) -> String {
    annotations.and_then(|a| a.get(CLASS_ANNOTATION)).or(spec_class).cloned().unwrap_or_default()
}

fn validate_access_modes(modes: &[String], path: &FieldPath, required_detail: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if modes.is_empty() {
        errs.push(FieldError::required(path, required_detail));
    }
    for m in modes {
        if !ACCESS_MODES.contains(&m.as_str()) {
            errs.push(FieldError::not_supported(path, m.as_str(), ACCESS_MODES));
        }
    }
    if modes.iter().any(|m| m == "ReadWriteOncePod") && modes.len() > 1 {
        errs.push(FieldError::forbidden(path, "may not use ReadWriteOncePod with other access modes"));
    }
    errs
}

fn validate_common(volume_mode: Option<&str>, class: Option<&str>, spec: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(m) = volume_mode
        && !VOLUME_MODES.contains(&m)
    {
        errs.push(FieldError::not_supported(spec.child("volumeMode"), m, VOLUME_MODES));
    }
    if let Some(c) = class.filter(|c| !c.is_empty()) {
        errs.extend(
            dns1123_subdomain(c).into_iter().map(|m| FieldError::invalid(spec.child("storageClassName"), c, m)),
        );
    }
    errs
}

/// The JSON names of the persistent volume sources a spec sets.
fn pv_sources(spec: &PersistentVolumeSpec) -> Vec<&'static str> {
    let present = [
        ("gcePersistentDisk", spec.gce_persistent_disk.is_some()),
        ("awsElasticBlockStore", spec.aws_elastic_block_store.is_some()),
        ("hostPath", spec.host_path.is_some()),
        ("glusterfs", spec.glusterfs.is_some()),
        ("nfs", spec.nfs.is_some()),
        ("rbd", spec.rbd.is_some()),
        ("quobyte", spec.quobyte.is_some()),
        ("cephfs", spec.cephfs.is_some()),
        ("iscsi", spec.iscsi.is_some()),
        ("cinder", spec.cinder.is_some()),
        ("fc", spec.fc.is_some()),
        ("flexVolume", spec.flex_volume.is_some()),
        ("azureFile", spec.azure_file.is_some()),
        ("vsphereVolume", spec.vsphere_volume.is_some()),
        ("photonPersistentDisk", spec.photon_persistent_disk.is_some()),
        ("portworxVolume", spec.portworx_volume.is_some()),
        ("azureDisk", spec.azure_disk.is_some()),
        ("scaleIO", spec.scale_io.is_some()),
        ("local", spec.local.is_some()),
        ("storageos", spec.storageos.is_some()),
        ("csi", spec.csi.is_some()),
        ("flocker", spec.flocker.is_some()),
    ];
    present.iter().filter(|(_, set)| *set).map(|(n, _)| *n).collect()
}

fn parse_quantity(q: &QuantityString, path: &FieldPath, errs: &mut Vec<FieldError>) -> Option<Quantity> {
    let parsed = Quantity::parse(&q.0);
    if parsed.is_none() {
        errs.push(FieldError::invalid(path, q.0.as_str(), QUANTITY_FORMAT_MESSAGE));
    }
    parsed
}

pub struct PersistentVolumeStrategy;

fn validate_pv(pv: &PersistentVolume) -> Vec<FieldError> {
    let spec = pv.spec.clone().unwrap_or_default();
    let path = FieldPath::root("spec");
    let mut errs =
        validate_access_modes(spec.access_modes.as_deref().unwrap_or_default(), &path.child("accessModes"), "");
    let capacity = spec.capacity.clone().unwrap_or_default();
    if capacity.is_empty() {
        errs.push(FieldError::required(path.child("capacity"), ""));
    } else if !capacity.contains_key("storage") || capacity.len() > 1 {
        errs.push(FieldError::not_supported(
            path.child("capacity"),
            json!(capacity.keys().collect::<Vec<_>>()),
            &["storage"],
        ));
    }
    if let Some(q) = capacity.get("storage") {
        let p = path.child("capacity").key("storage");
        if let Some(q) = parse_quantity(q, &p, &mut errs)
            && (q.is_zero() || q.is_negative())
        {
            errs.push(FieldError::invalid(&p, q.canonical(), "must be greater than zero"));
        }
    }
    if let Some(p) = spec.persistent_volume_reclaim_policy.as_deref()
        && !RECLAIM_POLICIES.contains(&p)
    {
        errs.push(FieldError::not_supported(path.child("persistentVolumeReclaimPolicy"), p, RECLAIM_POLICIES));
    }
    match pv_sources(&spec).as_slice() {
        [] => errs.push(FieldError::required(&path, "must specify a volume type")),
        [_] => {}
        [_, rest @ ..] => {
            for s in rest {
                errs.push(FieldError::forbidden(path.child(s), "may not specify more than 1 volume type"));
            }
        }
    }
    if let Some(h) = &spec.host_path
        && h.path.is_empty()
    {
        errs.push(FieldError::required(path.child("hostPath").child("path"), ""));
    }
    if let Some(l) = &spec.local {
        if l.path.is_empty() {
            errs.push(FieldError::required(path.child("local").child("path"), ""));
        }
        if spec.node_affinity.is_none() {
            errs.push(FieldError::required(path.child("nodeAffinity"), "Local volume requires node affinity"));
        }
    }
    errs.extend(validate_common(spec.volume_mode.as_deref(), spec.storage_class_name.as_deref(), &path));
    errs
}

/// The persistent volume source as JSON (everything that names where the data is).
fn pv_source_value(spec: &PersistentVolumeSpec) -> Value {
    let v = serde_json::to_value(spec).unwrap_or_default();
    let mut out = serde_json::Map::new();
    for name in pv_sources(spec) {
        if let Some(s) = v.get(name) {
            out.insert(name.to_string(), s.clone());
        }
    }
    Value::Object(out)
}

impl Strategy for PersistentVolumeStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<PersistentVolume>(obj)
    }

    fn default(&self, obj: &mut Value) {
        typed::<PersistentVolume>(obj, |pv| {
            let spec = pv.spec.get_or_insert_with(Default::default);
            if spec.persistent_volume_reclaim_policy.as_deref().unwrap_or("").is_empty() {
                spec.persistent_volume_reclaim_policy = Some("Retain".into());
            }
            if spec.volume_mode.is_none() {
                spec.volume_mode = Some("Filesystem".into());
            }
            canonicalize_resource_map(&mut spec.capacity);
            let status = pv.status.get_or_insert_with(Default::default);
            if status.phase.as_deref().unwrap_or("").is_empty() {
                status.phase = Some("Pending".into());
            }
        });
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] =
            json!({"phase": "Pending", "lastPhaseTransitionTime": meta::format_time(jiff::Timestamp::now())});
    }

    fn has_status(&self) -> bool {
        true
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        match decode::<PersistentVolume>(obj) {
            Ok(pv) => validate_pv(&pv),
            Err(e) => vec![FieldError::invalid("spec", Value::Null, e)],
        }
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        let (n, o): (PersistentVolume, PersistentVolume) = (decode_or_default(new), decode_or_default(old));
        let (ns, os) = (n.spec.unwrap_or_default(), o.spec.unwrap_or_default());
        if pv_source_value(&ns) != pv_source_value(&os) {
            errs.push(FieldError::forbidden(
                FieldPath::root("spec").child("persistentvolumesource"),
                "spec.persistentvolumesource is immutable after creation",
            ));
        }
        if ns.volume_mode != os.volume_mode {
            errs.push(FieldError::invalid(
                FieldPath::root("spec").child("volumeMode"),
                ns.volume_mode.map(Value::String).unwrap_or(Value::Null),
                "field is immutable",
            ));
        }
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new(
                "Capacity",
                "string",
                "capacity is the description of the persistent volume's resources and capacity.",
            ),
            Column::new("Access Modes", "string", "accessModes contains all ways the volume can be mounted."),
            Column::new(
                "Reclaim Policy",
                "string",
                "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.",
            ),
            Column::new(
                "Status",
                "string",
                "phase indicates if a volume is available, bound to a claim, or released by a claim.",
            ),
            Column::new(
                "Claim",
                "string",
                "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.",
            ),
            Column::new("StorageClass", "string", "StorageClass of the pv"),
            Column::new("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
            Column::new(
                "Reason",
                "string",
                "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.",
            ),
            Column::age(),
            Column::wide(
                "VolumeMode",
                "string",
                "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.",
            ),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let pv: PersistentVolume = decode_or_default(obj);
        let spec = pv.spec.clone().unwrap_or_default();
        let status = pv.status.clone().unwrap_or_default();
        let claim = spec.claim_ref.as_ref().map_or(String::new(), |c| {
            format!("{}/{}", c.namespace.clone().unwrap_or_default(), c.name.clone().unwrap_or_default())
        });
        let size = spec
            .capacity
            .as_ref()
            .and_then(|c| c.get("storage"))
            .map_or_else(|| "0".to_string(), |q| Quantity::parse(&q.0).map_or(q.0.clone(), |q| q.canonical()));
        let phase = if pv.metadata.deletion_timestamp.is_some() {
            "Terminating".to_string()
        } else {
            status.phase.clone().unwrap_or_default()
        };
        vec![
            json!(size),
            json!(access_modes_string(spec.access_modes.as_deref().unwrap_or_default())),
            json!(spec.persistent_volume_reclaim_policy.clone().unwrap_or_default()),
            json!(phase),
            json!(claim),
            json!(storage_class(pv.metadata.annotations.as_ref(), spec.storage_class_name.as_ref())),
            json!(spec.volume_attributes_class_name.clone().unwrap_or_else(|| "<unset>".into())),
            json!(status.reason.clone().unwrap_or_default()),
            json!(since_time(pv.metadata.creation_timestamp.as_ref(), ctx)),
            json!(spec.volume_mode.clone().unwrap_or_else(|| "<unset>".into())),
        ]
    }
}

pub struct PersistentVolumeClaimStrategy;

fn validate_pvc(pvc: &PersistentVolumeClaim) -> Vec<FieldError> {
    let spec = pvc.spec.clone().unwrap_or_default();
    let path = FieldPath::root("spec");
    let mut errs = validate_access_modes(
        spec.access_modes.as_deref().unwrap_or_default(),
        &path.child("accessModes"),
        "at least 1 access mode is required",
    );
    let storage_path = path.child("resources").key("storage");
    match spec.resources.as_ref().and_then(|r| r.requests.as_ref()).and_then(|r| r.get("storage")) {
        None => errs.push(FieldError::required(&storage_path, "")),
        Some(q) => {
            if let Some(q) = parse_quantity(q, &storage_path, &mut errs)
                && (q.is_zero() || q.is_negative())
            {
                errs.push(FieldError::invalid(&storage_path, q.canonical(), "must be greater than zero"));
            }
        }
    }
    errs.extend(validate_common(spec.volume_mode.as_deref(), spec.storage_class_name.as_deref(), &path));
    errs
}

fn storage_request(pvc: &PersistentVolumeClaim) -> Option<Quantity> {
    let q = pvc.spec.as_ref()?.resources.as_ref()?.requests.as_ref()?.get("storage")?;
    Quantity::parse(&q.0)
}

impl Strategy for PersistentVolumeClaimStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<PersistentVolumeClaim>(obj)
    }

    fn default(&self, obj: &mut Value) {
        typed::<PersistentVolumeClaim>(obj, |pvc| {
            let spec = pvc.spec.get_or_insert_with(Default::default);
            if spec.volume_mode.is_none() {
                spec.volume_mode = Some("Filesystem".into());
            }
            if let Some(res) = spec.resources.as_mut() {
                canonicalize_resource_map(&mut res.requests);
                canonicalize_resource_map(&mut res.limits);
            }
            let status = pvc.status.get_or_insert_with(Default::default);
            if status.phase.as_deref().unwrap_or("").is_empty() {
                status.phase = Some("Pending".into());
            }
        });
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"phase": "Pending"});
    }

    fn has_status(&self) -> bool {
        true
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        match decode::<PersistentVolumeClaim>(obj) {
            Ok(pvc) => validate_pvc(&pvc),
            Err(e) => vec![FieldError::invalid("spec", Value::Null, e)],
        }
    }

    /// Only the storage request of a bound claim (growing) and the volume attributes
    /// class may change.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        let (n, o): (PersistentVolumeClaim, PersistentVolumeClaim) = (decode_or_default(new), decode_or_default(old));
        let (mut ns, os) = (n.spec.clone().unwrap_or_default(), o.spec.clone().unwrap_or_default());
        let bound = os.volume_name.as_deref().is_some_and(|v| !v.is_empty());
        // A claim may be bound by setting volumeName once.
        if !bound && os.volume_name.is_none() {
            ns.volume_name = os.volume_name.clone();
        }
        if bound {
            ns.resources = os.resources.clone();
            if let (Some(nq), Some(oq)) = (storage_request(&n), storage_request(&o))
                && nq < oq
            {
                errs.push(FieldError::forbidden(
                    FieldPath::root("spec").child("resources").child("requests").child("storage"),
                    "field can not be less than previous value",
                ));
            }
        }
        ns.volume_attributes_class_name = os.volume_attributes_class_name.clone();
        if ns != os {
            errs.push(FieldError::forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
            ));
        }
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("Status", "string", "phase represents the current phase of PersistentVolumeClaim."),
            Column::new(
                "Volume",
                "string",
                "volumeName is the binding reference to the PersistentVolume backing this claim.",
            ),
            Column::new("Capacity", "string", "capacity represents the actual resources of the underlying volume."),
            Column::new(
                "Access Modes",
                "string",
                "accessModes contains the actual access modes the volume backing the PVC has.",
            ),
            Column::new("StorageClass", "string", "StorageClass of the pvc"),
            Column::new("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
            Column::age(),
            Column::wide("VolumeMode", "string", "volumeMode defines what type of volume is required by the claim."),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let pvc: PersistentVolumeClaim = decode_or_default(obj);
        let spec = pvc.spec.clone().unwrap_or_default();
        let status = pvc.status.clone().unwrap_or_default();
        let phase = if pvc.metadata.deletion_timestamp.is_some() {
            "Terminating".to_string()
        } else {
            status.phase.clone().unwrap_or_default()
        };
        let volume = spec.volume_name.clone().unwrap_or_default();
        let (capacity, modes) = if volume.is_empty() {
            (String::new(), String::new())
        } else {
            let cap = status
                .capacity
                .as_ref()
                .and_then(|c| c.get("storage"))
                .map_or_else(|| "0".to_string(), |q| Quantity::parse(&q.0).map_or(q.0.clone(), |q| q.canonical()));
            (cap, access_modes_string(status.access_modes.as_deref().unwrap_or_default()))
        };
        vec![
            json!(phase),
            json!(volume),
            json!(capacity),
            json!(modes),
            json!(storage_class(pvc.metadata.annotations.as_ref(), spec.storage_class_name.as_ref())),
            json!(spec.volume_attributes_class_name.clone().unwrap_or_else(|| "<unset>".into())),
            json!(since_time(pvc.metadata.creation_timestamp.as_ref(), ctx)),
            json!(spec.volume_mode.clone().unwrap_or_else(|| "<unset>".into())),
        ]
    }
}

#[cfg(test)]
mod tests;
