//! containerd leases: while content is written and layers are unpacked, nothing references
//! the new blobs and snapshots yet, so containerd's garbage collector could remove them.
//! A lease holds them until the image record (which references them) exists.

use std::collections::HashMap;

use containerd_client::services::v1::{CreateRequest, DeleteRequest};

use super::Containerd;
use crate::error::{Result, StatusExt};

/// A lease that expires by itself after an hour, in case we die before deleting it.
pub(crate) struct Lease {
    pub(crate) id: String,
}

impl Lease {
    pub(crate) async fn create(containerd: &Containerd, purpose: &str) -> Result<Lease> {
        let id = format!("k3rs-{purpose}-{}", uuid::Uuid::new_v4().simple());
        let expire = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
        let labels = HashMap::from([("containerd.io/gc.expire".to_string(), expire.to_string())]);
        containerd
            .leases()
            .create(containerd.request(CreateRequest { id: id.clone(), labels }))
            .await
            .op("create lease")?;
        Ok(Lease { id })
    }

    /// Deletes the lease; what it held is kept only if something else references it now.
    pub(crate) async fn release(self, containerd: &Containerd) -> Result<()> {
        containerd
            .leases()
            .delete(containerd.request(DeleteRequest { id: self.id, sync: false }))
            .await
            .op("delete lease")?;
        Ok(())
    }
}
