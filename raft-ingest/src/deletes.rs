//! Delete requests on the ingest side: changes go to the metadata group (through its
//! leader); queries read them from this node's replica of it, or, on a node without one,
//! from a copy fetched from the metadata leader every second; the delete API and the
//! compactor read them from the leader itself.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

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

    /// `tenant`'s delete requests for a query: this node's metadata replica's, else the copy
    /// (fetched from the metadata leader first if this node has none yet, so a restarted
    /// node never answers without them).
    pub async fn delete_requests_of(&self, tenant: &str) -> Result<Vec<DeleteRequest>, IngestError> {
        if let Some(meta) = self.replica(META_GROUP) {
            return Ok(meta.with_deletes(|d| d.of(tenant).to_vec()));
        }
        let copy = self.deletes_copy.read().ok().and_then(|c| c.clone());
        let copy = match copy {
            Some(c) => c,
            None => self.refresh_deletes().await?,
        };
        Ok(copy.of(tenant).to_vec())
    }

    /// `tenant`'s delete requests as the metadata leader has them now (what the delete API
    /// lists and cancels, so a request filed on any node is seen at once).
    pub async fn current_delete_requests_of(&self, tenant: &str) -> Result<Vec<DeleteRequest>, IngestError> {
        Ok(self.leader_deletes().await?.of(tenant).to_vec())
    }

    /// On the metadata leader, after confirming its leadership (read index): every delete
    /// request.
    pub(crate) async fn deletes_local(&self) -> Result<DeleteRequests, IngestError> {
        let meta = self.replica(META_GROUP).filter(|m| m.is_leader()).ok_or_else(|| {
            IngestError::NotLeader(format!("node {} does not lead the metadata group", self.placement.node_id))
        })?;
        if !self.placement.standalone() {
            meta.linearize().await?;
        }
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

    /// Replaces the copy with the leader's requests and answers them.
    async fn refresh_deletes(&self) -> Result<Arc<DeleteRequests>, IngestError> {
        let fresh = Arc::new(self.leader_deletes().await?);
        if let Ok(mut copy) = self.deletes_copy.write() {
            *copy = Some(Arc::clone(&fresh));
        }
        Ok(fresh)
    }
}

/// How often a node without a metadata replica refreshes its copy of the delete requests.
const DELETES_REFRESH: Duration = Duration::from_secs(1);

/// Refreshes the copy of the delete requests every [`DELETES_REFRESH`] while this node has
/// no metadata replica, until the ingester shuts down (its own loop, so an unreachable
/// metadata leader never delays the shard map's refresh).
pub(crate) async fn deletes_loop(ingester: Weak<Ingester>) {
    loop {
        let Some(i) = ingester.upgrade() else { return };
        if i.stopping.load(Ordering::Relaxed) {
            return;
        }
        if i.replica(META_GROUP).is_none()
            && let Err(e) = i.refresh_deletes().await
        {
            tracing::debug!(error = %e, "delete requests refresh failed; retrying");
        }
        drop(i);
        tokio::time::sleep(DELETES_REFRESH).await;
    }
}
