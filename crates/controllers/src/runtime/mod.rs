//! Machinery shared by every controller: informers (watch-fed caches shared between
//! controllers, or a controller's own watch narrowed by a selector), a rate-limited work
//! queue and its workers, expectations, label
//! selectors, controller references, status writes and event recording. Leader election
//! and the event recorder itself live in `k3rs-control-runtime` (the scheduler uses them
//! too) and are re-exported here.

pub mod error;
pub mod expectations;
pub mod informer;
pub mod informers;
pub mod key;
pub mod owner;
pub mod recorder;
pub mod selector;
pub mod shutdown;
pub mod status;
pub mod worker;
pub mod workqueue;

pub use error::Error;
pub use expectations::Expectations;
pub use informer::{Change, Informer, Watchable};
pub use informers::SharedInformers;
pub use k3rs_control_runtime::events::EventType;
pub use k3rs_control_runtime::{events, leader};
pub use key::ObjectKey;
pub use recorder::{EventRecorder, EventSink};
pub use selector::LabelMatcher;
pub use shutdown::Shutdown;
pub use worker::{Requeue, run_workers};
pub use workqueue::WorkQueue;
