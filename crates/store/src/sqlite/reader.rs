//! A small pool of read connections. Each read runs on tokio's blocking pool inside a read
//! transaction, so it sees one snapshot and never holds up the async runtime or the writer
//! (WAL lets readers and the writer proceed together).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::schema::open_reader;
use crate::error::{Error, Result};

pub(crate) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection the pool may have open.
    permits: Semaphore,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf, size: usize) -> ReadPool {
        ReadPool { path, idle: Mutex::new(Vec::new()), permits: Semaphore::new(size.max(1)) }
    }

    /// Runs `read` on a pooled connection. Connections are opened on first use; one whose read
    /// panicked is dropped rather than returned.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|_| Error::Closed)?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = pool.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => open_reader(&pool.path)?,
            };
            let result = read(&mut conn);
            pool.idle.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
            result
        })
        .await
        .map_err(|join| Error::Backend(format!("read task failed: {join}")))?
    }
}
