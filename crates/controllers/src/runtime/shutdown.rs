//! The signal that tells controllers to stop: leadership lost or the server stopping.

use tokio::sync::watch;

/// A cloneable stop signal. [`Shutdown::wait`] resolves once it fires (or when the
/// sender is gone, which means the same).
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The sending side; dropping it also fires the signal.
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

impl Shutdown {
    /// A signal and its trigger.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger { tx }, Shutdown { rx })
    }

    /// A signal that follows a leadership flag: it fires when the flag turns `false`.
    pub fn from_leadership(leading: watch::Receiver<bool>) -> Shutdown {
        let (trigger, shutdown) = Shutdown::new();
        let mut leading = leading;
        tokio::spawn(async move {
            let _ = leading.wait_for(|l| !*l).await;
            trigger.fire();
        });
        shutdown
    }

    pub fn is_fired(&self) -> bool {
        *self.rx.borrow() || self.rx.has_changed().is_err()
    }

    pub async fn wait(&mut self) {
        let _ = self.rx.wait_for(|fired| *fired).await;
    }
}

impl ShutdownTrigger {
    pub fn fire(&self) {
        self.tx.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fires_on_trigger_and_on_drop() {
        let (trigger, mut s) = Shutdown::new();
        assert!(!s.is_fired());
        trigger.fire();
        s.wait().await;
        assert!(s.is_fired());

        let (trigger, mut s) = Shutdown::new();
        drop(trigger);
        s.wait().await;
        assert!(s.is_fired());
    }

    #[tokio::test]
    async fn follows_leadership() {
        let (tx, rx) = watch::channel(true);
        let mut s = Shutdown::from_leadership(rx);
        assert!(!s.is_fired());
        tx.send_replace(false);
        s.wait().await;
        assert!(s.is_fired());
    }
}
