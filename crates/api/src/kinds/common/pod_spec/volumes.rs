//! Validation of a pod's volumes: unique DNS-label names, exactly one source, and
//! the required fields of the common sources.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{KeyToPath, Volume};

use super::containers::validate_local_descending_path;
use super::defaults::volume_sources;
use crate::kinds::common::quantity::{QUANTITY_FORMAT_MESSAGE, Quantity};
use crate::validation::names::dns1123_label;
use crate::validation::{FieldError, FieldPath};

const HOST_PATH_TYPES: &[&str] =
    &["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"];
const MODE_MESSAGE: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// Validates the volumes and returns their names (for volume mounts to refer to).
pub fn validate_volumes(volumes: &[Volume], path: &FieldPath) -> (HashSet<String>, Vec<FieldError>) {
    let mut names = HashSet::new();
    let mut errs = Vec::new();
    for (i, v) in volumes.iter().enumerate() {
        let ip = path.index(i);
        let np = ip.child("name");
        if v.name.is_empty() {
            errs.push(FieldError::required(&np, ""));
        } else {
            errs.extend(dns1123_label(&v.name).into_iter().map(|m| FieldError::invalid(&np, v.name.as_str(), m)));
        }
        if !v.name.is_empty() && !names.insert(v.name.clone()) {
            errs.push(FieldError::duplicate(&np, v.name.as_str()));
        }
        errs.extend(validate_volume_source(v, &ip));
    }
    (names, errs)
}

fn validate_volume_source(v: &Volume, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let sources = volume_sources(v);
    match sources.as_slice() {
        [] => errs.push(FieldError::required(path, "must specify a volume type")),
        [_] => {}
        [_, rest @ ..] => {
            for s in rest {
                errs.push(FieldError::forbidden(path.child(s), "may not specify more than 1 volume type"));
            }
        }
    }
    if let Some(h) = &v.host_path {
        let p = path.child("hostPath");
        if h.path.is_empty() {
            errs.push(FieldError::required(p.child("path"), ""));
        }
        if let Some(t) = h.type_.as_deref()
            && !HOST_PATH_TYPES.contains(&t)
        {
            errs.push(FieldError::not_supported(p.child("type"), t, HOST_PATH_TYPES));
        }
    }
    if let Some(s) = &v.secret {
        let p = path.child("secret");
        if s.secret_name.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(p.child("secretName"), ""));
        }
        errs.extend(validate_mode(s.default_mode, &p.child("defaultMode")));
        errs.extend(validate_items(s.items.as_deref().unwrap_or_default(), &p.child("items")));
    }
    if let Some(c) = &v.config_map {
        let p = path.child("configMap");
        if c.name.is_empty() {
            errs.push(FieldError::required(p.child("name"), ""));
        }
        errs.extend(validate_mode(c.default_mode, &p.child("defaultMode")));
        errs.extend(validate_items(c.items.as_deref().unwrap_or_default(), &p.child("items")));
    }
    if let Some(c) = &v.persistent_volume_claim
        && c.claim_name.is_empty()
    {
        errs.push(FieldError::required(path.child("persistentVolumeClaim").child("claimName"), ""));
    }
    if let Some(n) = &v.nfs {
        let p = path.child("nfs");
        if n.server.is_empty() {
            errs.push(FieldError::required(p.child("server"), ""));
        }
        if n.path.is_empty() {
            errs.push(FieldError::required(p.child("path"), ""));
        } else if !n.path.starts_with('/') {
            errs.push(FieldError::invalid(p.child("path"), n.path.as_str(), "must be an absolute path"));
        }
    }
    if let Some(d) = &v.downward_api {
        let p = path.child("downwardAPI");
        errs.extend(validate_mode(d.default_mode, &p.child("defaultMode")));
        for (i, item) in d.items.iter().flatten().enumerate() {
            let ip = p.child("items").index(i);
            if item.path.is_empty() {
                errs.push(FieldError::required(ip.child("path"), ""));
            } else {
                errs.extend(validate_local_descending_path(&item.path, &ip.child("path")));
            }
            errs.extend(validate_mode(item.mode, &ip.child("mode")));
        }
    }
    if let Some(p) = &v.projected {
        errs.extend(validate_mode(p.default_mode, &path.child("projected").child("defaultMode")));
    }
    if let Some(e) = &v.empty_dir
        && let Some(limit) = &e.size_limit
    {
        let p = path.child("emptyDir").child("sizeLimit");
        match Quantity::parse(&limit.0) {
            None => errs.push(FieldError::invalid(p, limit.0.as_str(), QUANTITY_FORMAT_MESSAGE)),
            Some(q) if q.is_negative() => {
                errs.push(FieldError::invalid(p, q.canonical(), "must be greater than or equal to 0"))
            }
            Some(_) => {}
        }
    }
    errs
}

fn validate_mode(mode: Option<i32>, path: &FieldPath) -> Vec<FieldError> {
    match mode {
        Some(m) if !(0..=0o777).contains(&m) => vec![FieldError::invalid(path, m, MODE_MESSAGE)],
        _ => Vec::new(),
    }
}

fn validate_items(items: &[KeyToPath], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = path.index(i);
        if item.key.is_empty() {
            errs.push(FieldError::required(ip.child("key"), ""));
        }
        if item.path.is_empty() {
            errs.push(FieldError::required(ip.child("path"), ""));
        } else {
            errs.extend(validate_local_descending_path(&item.path, &ip.child("path")));
        }
        errs.extend(validate_mode(item.mode, &ip.child("mode")));
    }
    errs
}
