//! Images: references, archive import (airgap), registry pull, the image store, and a
//! builder that makes test images from local files.

mod archive;
pub mod builder;
pub(crate) mod content;
mod import;
pub mod oci;
pub mod reference;
pub(crate) mod register;
pub mod registry;
mod service;

pub(crate) mod store;
mod unpack;

pub use archive::ImportProgress;
pub use reference::ImageRef;
pub use service::ImageService;
pub use store::{ImageSummary, ResolvedImage};

pub(crate) use import::import_archive;
pub(crate) use store::{list, present, remove, resolve};
