//! Workers: the loop that takes keys from a queue and syncs them, as every upstream
//! controller's `processNextWorkItem` does. Success clears the key's back-off (and
//! requeues the key after the delay the sync asks for, if any); failure requeues it with
//! back-off.

use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::error::{Error, is_conflict};
use super::shutdown::Shutdown;
use super::workqueue::WorkQueue;

/// What a successful sync asks for: to be synced again after a delay, or not.
pub type Requeue = Option<Duration>;

/// The success of a sync: `()` (done) or a [`Requeue`].
pub trait Synced {
    fn requeue(self) -> Requeue;
}

impl Synced for () {
    fn requeue(self) -> Requeue {
        None
    }
}

impl Synced for Requeue {
    fn requeue(self) -> Requeue {
        self
    }
}

/// The failure of a sync. A conflict only means the cache was behind, so it is
/// logged quietly; any failure requeues the key with back-off.
pub trait SyncError: Display {
    fn is_conflict(&self) -> bool;
}

impl SyncError for Error {
    fn is_conflict(&self) -> bool {
        matches!(self, Error::Api(api) if is_conflict(api))
    }
}

/// Runs `workers` concurrent workers over `queue` until `shutdown` fires, then shuts the
/// queue down and waits for the workers to finish their current key. Dropping the
/// future stops the workers at once.
pub async fn run_workers<T, F, Fut, S, E>(
    controller: &'static str,
    queue: WorkQueue<T>,
    workers: usize,
    shutdown: Shutdown,
    sync: F,
) where
    T: Clone + Eq + Hash + Send + Sync + Display + 'static,
    F: Fn(T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<S, E>> + Send + 'static,
    S: Synced,
    E: SyncError,
{
    let mut tasks = JoinSet::new();
    for _ in 0..workers.max(1) {
        let queue = queue.clone();
        let sync = sync.clone();
        tasks.spawn(async move {
            while let Some(key) = queue.get().await {
                match sync(key.clone()).await {
                    Ok(synced) => {
                        queue.forget(&key);
                        if let Some(after) = synced.requeue() {
                            queue.add_after(key.clone(), after);
                        }
                    }
                    Err(e) => {
                        if e.is_conflict() {
                            debug!(controller, key = %key, error = %e, "sync conflicted; requeued");
                        } else {
                            warn!(controller, key = %key, error = %e, "sync failed; requeued");
                        }
                        queue.add_rate_limited(key.clone());
                    }
                }
                queue.done(&key);
            }
        });
    }
    let mut shutdown = shutdown;
    shutdown.wait().await;
    queue.shut_down();
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use crate::runtime::workqueue::Backoff;

    #[tokio::test]
    async fn failed_keys_are_retried_until_they_succeed() {
        let queue = WorkQueue::<String>::new(Backoff { base: Duration::from_millis(1), max: Duration::from_millis(5) });
        let (trigger, shutdown) = Shutdown::new();
        let attempts = Arc::new(AtomicUsize::new(0));
        let a = attempts.clone();
        queue.add("k".into());
        let runner = tokio::spawn(run_workers("test", queue.clone(), 2, shutdown, move |_key: String| {
            let a = a.clone();
            async move { if a.fetch_add(1, Ordering::SeqCst) < 2 { Err(Error::Failed("not yet".into())) } else { Ok(()) } }
        }));
        for _ in 0..200 {
            if attempts.load(Ordering::SeqCst) >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
        trigger.fire();
        runner.await.unwrap();
        assert_eq!(queue.failures(&"k".to_string()), 0);
    }
}
