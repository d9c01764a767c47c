//! Delete requests on the ingest side: changes go to the metadata group (through its
//! leader); reads come from this node's replica of it, or, on a node without one, from a
//! copy fetched from the metadata leader every second.

use std::sync::Arc;

use proto::ingest::ShardAdmin;
use store::deletes::{DeleteChange, DeleteRequest, DeleteRequests};

use crate::error::IngestError;
use crate::forward::AdminOut;
use crate::ingester::Ingester;
use crate::shard_map::{META_GROUP, MetaChange};

impl Ingester {
    /// Applies `change` to the delete requests through the metadata group.
    pub async fn change_deletes(&self, change: DeleteChange) -> Result<(), IngestError> {
        self.propose_meta(MetaChange::Deletes(change)).await.map(|_| ())
    }

    /// Runs `f` over the delete requests: this node's metadata replica's, or the copy.
    fn with_deletes<T>(&self, f: impl FnOnce(&DeleteRequests) -> T) -> T {
        match self.replica(META_GROUP) {
            Some(meta) => meta.with_deletes(f),
            None => {
                let copy = self.deletes_copy.read().map(|c| Arc::clone(&c)).unwrap_or_default();
                f(&copy)
            }
        }
    }

    /// `tenant`'s delete requests as this node knows them.
    pub fn delete_requests_of(&self, tenant: &str) -> Vec<DeleteRequest> {
        self.with_deletes(|d| d.of(tenant).to_vec())
    }

    /// Every tenant's delete requests as this node knows them.
    pub fn all_delete_requests(&self) -> Vec<(String, DeleteRequest)> {
        self.with_deletes(|d| d.tenants.iter().flat_map(|(t, reqs)| reqs.iter().map(|r| (t.clone(), r.clone()))).collect())
    }

    /// `tenant`'s delete requests as the metadata leader has them now (what the delete API
    /// lists and cancels, so a request filed on any node is seen at once).
    pub async fn current_delete_requests_of(&self, tenant: &str) -> Result<Vec<DeleteRequest>, IngestError> {
        Ok(self.leader_deletes().await?.of(tenant).to_vec())
    }

    /// On the metadata leader: every delete request.
    pub(crate) fn deletes_local(&self) -> Result<DeleteRequests, IngestError> {
        let meta = self.replica(META_GROUP).filter(|m| m.is_leader()).ok_or_else(|| {
            IngestError::NotLeader(format!("node {} does not lead the metadata group", self.placement.node_id))
        })?;
        Ok(meta.with_deletes(Clone::clone))
    }

    /// Every delete request as the metadata leader has them now.
    pub(crate) async fn leader_deletes(&self) -> Result<DeleteRequests, IngestError> {
        let request = ShardAdmin { shard: META_GROUP, op: "deletes".into(), ..ShardAdmin::default() };
        match self.on_leader_admin(META_GROUP, request).await? {
            AdminOut::Deletes(d) => Ok(d),
            other => Err(IngestError::Raft(format!("internal: a deletes request answered {other:?}"))),
        }
    }

    /// On a node without a metadata replica: replaces the copy with the leader's requests.
    pub(crate) async fn refresh_deletes(&self) -> Result<(), IngestError> {
        if self.replica(META_GROUP).is_some() {
            return Ok(());
        }
        let fresh = Arc::new(self.leader_deletes().await?);
        if let Ok(mut copy) = self.deletes_copy.write() {
            *copy = fresh;
        }
        Ok(())
    }
}
