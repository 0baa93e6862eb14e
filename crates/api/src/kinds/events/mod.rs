//! events.k8s.io/v1 Event, stored as core/v1 Event. The conversion and the printer
//! (which upstream shares with core events) live here.

mod conversion;
mod event;
mod printing;

pub use conversion::{core_to_events, events_to_core};
pub use event::EventStrategy;
pub use printing::{core_event_columns, core_event_row};
