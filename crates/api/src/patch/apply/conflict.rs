//! Apply conflicts: fields an apply would change that other managers own,
//! reported with upstream's wording so `kubectl` users see the familiar
//! `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply"
//! using apps/v1: .spec.replicas`.

use std::collections::BTreeMap;

use crate::error::{ApiError, Cause, Reason};
use crate::patch::fieldpath::{FieldSet, Path};
use crate::patch::managed_fields::ManagedFieldsEntry;

/// One field another manager owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name.
    pub manager: String,
    /// How upstream names that manager: `"mgr" using apps/v1` (updaters),
    /// `"mgr"` (appliers), with ` with subresource "status"` when it wrote one.
    pub owner: String,
    pub path: Path,
}

/// An apply refused because of [`Conflict`]s (409 Conflict).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct ApplyConflict {
    pub conflicts: Vec<Conflict>,
}

impl ApplyConflict {
    /// The conflicts between the fields `changed` and every entry but `me`'s.
    pub(crate) fn find(entries: &[ManagedFieldsEntry], me: &ManagedFieldsEntry, changed: &FieldSet) -> ApplyConflict {
        let mut conflicts: Vec<Conflict> = entries
            .iter()
            .filter(|e| !e.same_manager(me))
            .flat_map(|e| {
                let owner = e.describe();
                e.fields.intersection(changed).paths().into_iter().map(move |path| Conflict {
                    manager: e.manager.clone(),
                    owner: owner.clone(),
                    path,
                })
            })
            .collect();
        conflicts.sort_by(|a, b| (&a.owner, &a.path).cmp(&(&b.owner, &b.path)));
        ApplyConflict { conflicts }
    }

    /// Upstream's message: one conflict inline, several grouped by manager.
    pub fn message(&self) -> String {
        if let [only] = self.conflicts.as_slice() {
            return format!("Apply failed with 1 conflict: conflict with {}: {}", only.owner, only.path);
        }
        let mut by_owner: BTreeMap<&str, Vec<&Path>> = BTreeMap::new();
        for c in &self.conflicts {
            by_owner.entry(c.owner.as_str()).or_default().push(&c.path);
        }
        let mut lines = Vec::new();
        for (owner, paths) in by_owner {
            lines.push(format!("conflicts with {owner}:"));
            lines.extend(paths.iter().map(|p| format!("- {p}")));
        }
        format!("Apply failed with {} conflicts: {}", self.conflicts.len(), lines.join("\n"))
    }

    /// `details.causes`: one `FieldManagerConflict` per field.
    pub fn causes(&self) -> Vec<Cause> {
        self.conflicts
            .iter()
            .map(|c| Cause {
                reason: "FieldManagerConflict".into(),
                message: format!("conflict with {}", c.owner),
                field: Some(c.path.to_string()),
            })
            .collect()
    }

    /// The 409 `Status` upstream answers with.
    pub fn to_api_error(&self) -> ApiError {
        let mut err = ApiError::new(Reason::Conflict, self.message());
        err.causes = self.causes();
        err
    }
}
