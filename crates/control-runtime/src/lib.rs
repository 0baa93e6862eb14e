//! Machinery every k3rs control loop (scheduler, controllers) shares: leader election on
//! a coordination.k8s.io Lease, so that in a cluster of several servers exactly one
//! instance of each loop acts, and an event recorder that aggregates repeated events into
//! series as upstream's `k8s.io/client-go/tools/events` does.

pub mod events;
pub mod leader;
pub mod watch;

pub use events::{EventRecorder, EventType, NewEvent};
pub use leader::{LeaderElection, LeaseConfig};
pub use watch::{Change, Synced, changes};
