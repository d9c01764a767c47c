//! Delete requests on the ingest side: changes go to the metadata group (through its
//! leader), reads come from this node's replica of it.

use store::deletes::{DeleteChange, DeleteRequest};

use crate::error::IngestError;
use crate::ingester::Ingester;
use crate::shard_map::{META_GROUP, MetaChange};

impl Ingester {
    /// Applies `change` to the delete requests through the metadata group.
    pub async fn change_deletes(&self, change: DeleteChange) -> Result<(), IngestError> {
        self.propose_meta(MetaChange::Deletes(change)).await.map(|_| ())
    }

    /// `tenant`'s delete requests as this node's metadata replica has them.
    pub fn delete_requests_of(&self, tenant: &str) -> Vec<DeleteRequest> {
        self.replica(META_GROUP).and_then(|m| m.with_deletes(|d| d.of(tenant).to_vec())).unwrap_or_default()
    }

    /// Every tenant's delete requests as this node's metadata replica has them.
    pub fn all_delete_requests(&self) -> Vec<(String, DeleteRequest)> {
        self.replica(META_GROUP)
            .and_then(|m| m.with_deletes(|d| d.tenants.iter().flat_map(|(t, reqs)| reqs.iter().map(|r| (t.clone(), r.clone()))).collect()))
            .unwrap_or_default()
    }
}
