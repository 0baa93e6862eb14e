//! The worker loop every cluster controller shares: take a key from the queue,
//! reconcile it, and requeue it after the delay the reconciler asks for, or with
//! back-off when it failed.

use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, warn};

use super::Error;
use super::queue::WorkQueue;

/// What a reconcile asks for once it succeeded.
pub type Requeue = Option<Duration>;

/// Runs `workers` loops over `queue` until dropped.
pub async fn run<K, F, Fut>(controller: &'static str, queue: Arc<WorkQueue<K>>, workers: usize, reconcile: F)
where
    K: Clone + Eq + Hash + Ord + Display + Send + Sync + 'static,
    F: Fn(K) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Requeue, Error>> + Send,
{
    let loops = (0..workers.max(1)).map(|_| {
        let queue = queue.clone();
        let reconcile = reconcile.clone();
        async move {
            loop {
                let key = queue.next().await;
                match reconcile(key.clone()).await {
                    Ok(requeue) => {
                        queue.forget(&key);
                        if let Some(after) = requeue {
                            queue.add_after(key.clone(), after);
                        }
                    }
                    Err(e) if e.is_conflict() => {
                        // Someone changed the object meanwhile: try again with fresh state.
                        debug!(controller, %key, error = %e, "conflict; requeueing");
                        queue.add_rate_limited(key.clone());
                    }
                    Err(e) => {
                        warn!(controller, %key, error = %e, "sync failed; requeueing");
                        queue.add_rate_limited(key.clone());
                    }
                }
                queue.done(&key);
            }
        }
    });
    futures::future::join_all(loops).await;
}
