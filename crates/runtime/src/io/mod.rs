//! Container standard streams: named pipes (FIFOs) that the containerd shim writes to,
//! and the log pump that turns a container's output into log file lines and feeds attached
//! clients.

pub(crate) mod fifo;
pub(crate) mod pump;
