//! storage.k8s.io/v1: StorageClass, CSIDriver, CSINode.

mod csi_driver;
mod csi_node;
mod storage_class;

pub use csi_driver::CSIDriverStrategy;
pub use csi_node::CSINodeStrategy;
pub use storage_class::{DEFAULT_CLASS_ANNOTATION, StorageClassStrategy, is_default_class};

use crate::validation::{FieldError, FieldPath, names};

/// `ValidateCSIDriverName`: a DNS subdomain (case-insensitive) of at most 63 characters.
pub(crate) fn csi_driver_name(name: &str, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if name.is_empty() {
        errs.push(FieldError::required(path, ""));
    }
    if name.len() > 63 {
        errs.push(FieldError::too_long(path, 63));
    }
    for msg in names::dns1123_subdomain(&name.to_lowercase()) {
        errs.push(FieldError::invalid(path, name, msg));
    }
    errs
}
