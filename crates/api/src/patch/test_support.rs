//! Shared fixtures for the patch tests: the built-in schema catalog, built once.

use std::sync::OnceLock;

use crate::schema::{Catalog, SchemaNode};

pub(crate) fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| crate::schema::generate(&crate::kinds::builtin()))
}

pub(crate) fn kind(catalog: &'static Catalog, definition: &str) -> SchemaNode<'static> {
    catalog.root(definition).unwrap_or_else(|| panic!("no definition {definition}"))
}

pub(crate) fn deployment() -> SchemaNode<'static> {
    kind(catalog(), "io.k8s.api.apps.v1.Deployment")
}

pub(crate) fn pod() -> SchemaNode<'static> {
    kind(catalog(), "io.k8s.api.core.v1.Pod")
}
