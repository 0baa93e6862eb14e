//! The request parameters operations declare.
//!
//! Parameter schemas carry `uniqueItems: true` because upstream's documents do
//! (a go-restful artifact); clients ignore it, and keeping the shape identical
//! keeps generated documents comparable with upstream's.

use serde_json::{Value, json};

/// A query parameter the API server understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Query {
    Pretty,
    DryRun,
    FieldManager,
    /// `fieldManager` on PATCH, where apply patches require it.
    FieldManagerPatch,
    FieldValidation,
    Force,
    GracePeriodSeconds,
    OrphanDependents,
    PropagationPolicy,
    AllowWatchBookmarks,
    Continue,
    FieldSelector,
    LabelSelector,
    Limit,
    ResourceVersion,
    ResourceVersionMatch,
    SendInitialEvents,
    TimeoutSeconds,
    Watch,
    // pods/log
    Container,
    Follow,
    LimitBytes,
    Previous,
    SinceSeconds,
    TailLines,
    Timestamps,
    // pods/exec, pods/attach
    Command,
    Stdin,
    Stdout,
    Stderr,
    Tty,
    // pods/portforward
    Ports,
}

/// Parameters of list (and watch) requests.
pub(super) const LIST: &[Query] = &[
    Query::AllowWatchBookmarks,
    Query::Continue,
    Query::FieldSelector,
    Query::LabelSelector,
    Query::Limit,
    Query::ResourceVersion,
    Query::ResourceVersionMatch,
    Query::SendInitialEvents,
    Query::TimeoutSeconds,
    Query::Watch,
];
/// Parameters of create and replace requests.
pub(super) const WRITE: &[Query] = &[Query::DryRun, Query::FieldManager, Query::FieldValidation];
pub(super) const PATCH: &[Query] = &[Query::DryRun, Query::FieldManagerPatch, Query::FieldValidation, Query::Force];
pub(super) const DELETE: &[Query] =
    &[Query::DryRun, Query::GracePeriodSeconds, Query::OrphanDependents, Query::PropagationPolicy];
/// Delete-collection selects like a list (without the watch options) and deletes like a delete.
pub(super) const DELETE_COLLECTION: &[Query] = &[
    Query::Continue,
    Query::DryRun,
    Query::FieldSelector,
    Query::GracePeriodSeconds,
    Query::LabelSelector,
    Query::Limit,
    Query::OrphanDependents,
    Query::PropagationPolicy,
    Query::ResourceVersion,
    Query::ResourceVersionMatch,
    Query::SendInitialEvents,
    Query::TimeoutSeconds,
];
pub(super) const LOG: &[Query] = &[
    Query::Container,
    Query::Follow,
    Query::LimitBytes,
    Query::Previous,
    Query::SinceSeconds,
    Query::TailLines,
    Query::Timestamps,
];
pub(super) const EXEC: &[Query] =
    &[Query::Command, Query::Container, Query::Stderr, Query::Stdin, Query::Stdout, Query::Tty];
pub(super) const ATTACH: &[Query] = &[Query::Container, Query::Stderr, Query::Stdin, Query::Stdout, Query::Tty];
pub(super) const PORTFORWARD: &[Query] = &[Query::Ports];

impl Query {
    /// (name, schema type, description).
    fn spec(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Query::Pretty => ("pretty", "string", "If 'true', the response body is indented for reading."),
            Query::DryRun => (
                "dryRun",
                "string",
                "When present, the request is checked and processed but nothing is persisted. \
                 The only accepted value is 'All' (run every stage).",
            ),
            Query::FieldManager => (
                "fieldManager",
                "string",
                "Name of the actor making this change, recorded in managedFields. \
                 At most 128 printable characters.",
            ),
            Query::FieldManagerPatch => (
                "fieldManager",
                "string",
                "Name of the actor making this change, recorded in managedFields. \
                 At most 128 printable characters. Required for apply patches (application/apply-patch+yaml), \
                 optional for JSON, merge and strategic merge patches.",
            ),
            Query::FieldValidation => (
                "fieldValidation",
                "string",
                "What the server does with unknown or duplicate fields in the request body (POST, PUT, PATCH): \
                 'Ignore' drops them silently; 'Warn' drops them and returns a Warning header for each \
                 (the default); 'Strict' rejects the request with a BadRequest error listing them.",
            ),
            Query::Force => (
                "force",
                "boolean",
                "Apply patches only: take over fields that other managers own instead of failing with a \
                 conflict. Must be unset for other patch types.",
            ),
            Query::GracePeriodSeconds => (
                "gracePeriodSeconds",
                "integer",
                "Seconds the object is given to terminate before it is removed; 0 removes it at once. \
                 Unset uses the kind's default.",
            ),
            Query::OrphanDependents => (
                "orphanDependents",
                "boolean",
                "Deprecated, use propagationPolicy: true orphans the dependents, false deletes them. \
                 Set at most one of the two.",
            ),
            Query::PropagationPolicy => (
                "propagationPolicy",
                "string",
                "What the garbage collector does with dependents: 'Orphan' keeps them, 'Background' deletes \
                 them after the owner is gone, 'Foreground' deletes them before the owner is removed.",
            ),
            Query::AllowWatchBookmarks => (
                "allowWatchBookmarks",
                "boolean",
                "Ask for BOOKMARK events, which carry only a newer resourceVersion to resume from. \
                 The server sends them at its own pace; ignored unless watching.",
            ),
            Query::Continue => (
                "continue",
                "string",
                "The metadata.continue token of the previous page of a paginated list; the query must \
                 otherwise be the same. An expired token is answered with 410 Gone. Not supported with watch.",
            ),
            Query::FieldSelector => (
                "fieldSelector",
                "string",
                "Only objects whose fields match, such as metadata.name=web or status.phase!=Running. \
                 Defaults to everything.",
            ),
            Query::LabelSelector => (
                "labelSelector",
                "string",
                "Only objects whose labels match, such as app=web,tier!=cache or 'env in (prod,qa)'. \
                 Defaults to everything.",
            ),
            Query::Limit => (
                "limit",
                "integer",
                "At most this many items; when more remain, metadata.continue holds the token for the next \
                 page. Not supported with watch.",
            ),
            Query::ResourceVersion => (
                "resourceVersion",
                "string",
                "Which state the request may be served from; a watch sends the changes after it. \
                 See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions. \
                 Defaults to unset (the latest state).",
            ),
            Query::ResourceVersionMatch => (
                "resourceVersionMatch",
                "string",
                "How a list applies resourceVersion: 'Exact' or 'NotOlderThan'. Recommended whenever a \
                 list sets resourceVersion.",
            ),
            Query::SendInitialEvents => (
                "sendInitialEvents",
                "boolean",
                "With watch=true, start the stream with synthetic ADDED events for the current objects, then \
                 a BOOKMARK annotated k8s.io/initial-events-end=true. Requires resourceVersionMatch=NotOlderThan.",
            ),
            Query::TimeoutSeconds => (
                "timeoutSeconds",
                "integer",
                "Ends the list or watch call after this many seconds, whatever its activity.",
            ),
            Query::Watch => (
                "watch",
                "boolean",
                "Stream add, update and delete events for the selected objects instead of listing them. \
                 Give resourceVersion to resume from a known state.",
            ),
            Query::Container => {
                ("container", "string", "The container to use; may be omitted when the pod has only one.")
            }
            Query::Follow => ("follow", "boolean", "Keep streaming the log as the container writes it."),
            Query::LimitBytes => ("limitBytes", "integer", "Stop after this many bytes of log output."),
            Query::Previous => {
                ("previous", "boolean", "The log of the previous, terminated instance of the container.")
            }
            Query::SinceSeconds => ("sinceSeconds", "integer", "Only log lines written in the last this many seconds."),
            Query::TailLines => ("tailLines", "integer", "Only the last this many lines of the log."),
            Query::Timestamps => ("timestamps", "boolean", "Prefix every log line with its RFC 3339 timestamp."),
            Query::Command => {
                ("command", "string", "The command to run, one argument per repeated parameter; not run in a shell.")
            }
            Query::Stdin => ("stdin", "boolean", "Attach the standard input stream."),
            Query::Stdout => ("stdout", "boolean", "Attach the standard output stream."),
            Query::Stderr => ("stderr", "boolean", "Attach the standard error stream (not with a TTY)."),
            Query::Tty => ("tty", "boolean", "Allocate a terminal; standard error then goes to standard output."),
            Query::Ports => ("ports", "integer", "The container ports to forward to, one per repeated parameter."),
        }
    }

    pub fn to_json(self) -> Value {
        let (name, ty, description) = self.spec();
        let mut schema = json!({"type": ty, "uniqueItems": true});
        if self == Query::FieldValidation {
            schema["enum"] = json!(["Ignore", "Warn", "Strict"]);
        }
        json!({"name": name, "in": "query", "description": description, "schema": schema})
    }
}

/// A required path parameter (`{namespace}`, `{name}`).
pub(super) fn path(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "path",
        "description": description,
        "required": true,
        "schema": {"type": "string", "uniqueItems": true},
    })
}

pub(super) fn namespace() -> Value {
    path("namespace", "The namespace of the objects: it scopes their names and who may access them.")
}

pub(super) fn name(kind: &str) -> Value {
    path("name", &format!("name of the {kind}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_validation_is_a_query_parameter_with_its_values() {
        let p = Query::FieldValidation.to_json();
        assert_eq!(p["name"], "fieldValidation");
        assert_eq!(p["in"], "query");
        assert_eq!(p["schema"]["enum"], json!(["Ignore", "Warn", "Strict"]));
        assert!(p["description"].as_str().is_some_and(|d| d.contains("Strict")));
    }

    #[test]
    fn parameter_lists_have_no_duplicate_names() {
        for list in [LIST, WRITE, PATCH, DELETE, DELETE_COLLECTION, LOG, EXEC, ATTACH, PORTFORWARD] {
            let mut names: Vec<&str> = list.iter().map(|q| q.spec().0).collect();
            names.sort_unstable();
            let len = names.len();
            names.dedup();
            assert_eq!(names.len(), len, "{list:?}");
        }
    }
}
