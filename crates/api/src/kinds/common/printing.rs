//! Small printing helpers table rows share: ages of typed timestamps and the
//! `Containers`/`Images` cells and columns of workload printers.

use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use crate::strategy::Context;
use crate::table::{Column, human_duration};

/// Time since `t` as kubectl prints ages; `<unknown>` when absent.
pub fn since_time(t: Option<&Time>, ctx: &Context) -> String {
    match t {
        Some(t) => human_duration(ctx.now.duration_since(t.0).as_secs()),
        None => "<unknown>".to_string(),
    }
}

/// Comma-joined container names and images (upstream's `layoutContainerCells`).
pub fn container_cells(containers: &[Container]) -> (String, String) {
    let names = containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(",");
    let images = containers.iter().map(|c| c.image.as_deref().unwrap_or("")).collect::<Vec<_>>().join(",");
    (names, images)
}

pub fn string(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

/// The `Containers` and `Images` columns of workload printers.
pub fn container_columns(priority: i32) -> [Column; 2] {
    let mut names = Column::new("Containers", "string", "Names of each container in the template.");
    let mut images = Column::new("Images", "string", "Images referenced by each container in the template.");
    names.priority = priority;
    images.priority = priority;
    [names, images]
}
