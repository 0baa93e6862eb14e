//! Service-manager readiness: with `Type=notify` units (deploy/*.service) systemd
//! considers k3rs started only once it says so, so `systemctl start k3rs` returns
//! when the API answers and units ordered after it can rely on that. Outside
//! systemd (`NOTIFY_SOCKET` unset) every call does nothing.

use sd_notify::NotifyState;
use tracing::{debug, warn};

/// Tells the service manager that k3rs is up (`READY=1`) and what it is doing.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells the service manager that k3rs is shutting down (`STOPPING=1`).
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    // A failed notification must not stop k3rs: systemd will time the start out
    // (or not, with TimeoutStartSec=0) and the log says why.
    match sd_notify::notify(states) {
        Ok(()) => debug!(?states, "notified the service manager"),
        Err(e) => warn!("notifying the service manager failed: {e}"),
    }
}
