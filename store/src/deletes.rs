//! Delete requests (Loki's delete API): which lines of a tenant must no longer be returned,
//! kept in the metadata group's replicated state. Queries filter them out as soon as a
//! request is received; the compactor removes them from chunk files once the request can
//! no longer be cancelled.

use std::collections::BTreeMap;

use arrow::array::{BooleanArray, RecordBatch};
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::labels::{Labels, StreamId};

/// For each row of a chunk batch (entry schema): whether a delete request removes it.
pub type RowTest = Box<dyn Fn(&RecordBatch) -> Result<BooleanArray, StoreError> + Send + Sync>;

/// Decides which rows of chunk batches a delete request removes; implemented by the query
/// engine (so queries and the compactor agree), used by the compactor.
pub trait DeleteMatcher: Send + Sync {
    /// The row test of `request` for batches of the streams in `labels`, prepared once for
    /// every batch of a file.
    fn prepare(&self, request: &DeleteRequest, labels: &BTreeMap<StreamId, Labels>) -> Result<RowTest, StoreError>;
}

/// One delete request of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequest {
    /// Id answered in `X-Delete-Request-ID`.
    pub request_id: String,
    /// LogQL stream selector with optional line filters.
    pub query: String,
    /// First deleted timestamp (ns, inclusive).
    pub start_ns: i64,
    /// Last deleted timestamp (ns, inclusive).
    pub end_ns: i64,
    /// When it was received (ms since the epoch).
    pub created_at_ms: i64,
    /// Whether the compactor has removed the lines from every chunk file.
    pub processed: bool,
}

/// A change to the delete requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeleteChange {
    /// A new request of `tenant`.
    Add {
        /// The tenant.
        tenant: String,
        /// The request.
        request: DeleteRequest,
    },
    /// `tenant`'s request `request_id` is cancelled: forget it.
    Cancel {
        /// The tenant.
        tenant: String,
        /// The request.
        request_id: String,
    },
    /// `tenant`'s request `request_id` is done in every chunk file.
    Processed {
        /// The tenant.
        tenant: String,
        /// The request.
        request_id: String,
    },
}

/// Every tenant's delete requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequests {
    /// Requests by tenant, in the order they were received.
    pub tenants: BTreeMap<String, Vec<DeleteRequest>>,
}

impl DeleteRequests {
    /// Applies `change`.
    pub fn apply(&mut self, change: DeleteChange) {
        match change {
            DeleteChange::Add { tenant, request } => {
                let list = self.tenants.entry(tenant).or_default();
                if !list.iter().any(|r| r.request_id == request.request_id) {
                    list.push(request);
                }
            }
            DeleteChange::Cancel { tenant, request_id } => {
                if let Some(list) = self.tenants.get_mut(&tenant) {
                    list.retain(|r| r.request_id != request_id);
                    if list.is_empty() {
                        self.tenants.remove(&tenant);
                    }
                }
            }
            DeleteChange::Processed { tenant, request_id } => {
                if let Some(r) = self.tenants.get_mut(&tenant).and_then(|l| l.iter_mut().find(|r| r.request_id == request_id)) {
                    r.processed = true;
                }
            }
        }
    }

    /// `tenant`'s requests.
    pub fn of(&self, tenant: &str) -> &[DeleteRequest] {
        self.tenants.get(tenant).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: &str) -> DeleteRequest {
        DeleteRequest { request_id: id.into(), query: "{a=\"b\"}".into(), start_ns: 1, end_ns: 2, created_at_ms: 3, processed: false }
    }

    #[test]
    fn add_cancel_and_process() {
        let mut d = DeleteRequests::default();
        d.apply(DeleteChange::Add { tenant: "t".into(), request: req("a") });
        d.apply(DeleteChange::Add { tenant: "t".into(), request: req("a") });
        d.apply(DeleteChange::Add { tenant: "t".into(), request: req("b") });
        assert_eq!(d.of("t").len(), 2, "an id is added once");
        d.apply(DeleteChange::Processed { tenant: "t".into(), request_id: "b".into() });
        d.apply(DeleteChange::Cancel { tenant: "t".into(), request_id: "a".into() });
        assert_eq!(d.of("t"), &[DeleteRequest { processed: true, ..req("b") }]);
        assert!(d.of("other").is_empty());
    }
}
