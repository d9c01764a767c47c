//! [`HeadTable`]: the snapshot's unflushed head rows, scanned from memory.

use std::sync::Arc;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::catalog::memory::MemorySourceConfig;
use datafusion::common::Result as DfResult;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

/// Head record batches (in [`store::schema::entry_schema`]) as a DataFusion table.
///
/// Batches are spread round-robin over partitions so filters run in parallel. Filters are
/// not pushed into the scan: DataFusion evaluates them right above it.
#[derive(Debug)]
pub struct HeadTable {
    schema: SchemaRef,
    partitions: Vec<Vec<RecordBatch>>,
}

impl HeadTable {
    /// A table over `batches`, split into at most `partitions` partitions.
    pub fn new(batches: Vec<RecordBatch>, partitions: usize) -> DfResult<HeadTable> {
        let schema = store::schema::entry_schema();
        let n = partitions.clamp(1, batches.len().max(1));
        let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); n];
        for (i, b) in batches.into_iter().filter(|b| b.num_rows() > 0).enumerate() {
            // Normalise field metadata/nullability differences to the canonical schema.
            let b = if b.schema() == schema { b } else { b.with_schema(Arc::clone(&schema))? };
            parts[i % n].push(b);
        }
        parts.retain(|p| !p.is_empty());
        if parts.is_empty() {
            parts.push(Vec::new());
        }
        Ok(HeadTable { schema, partitions: parts })
    }
}

#[async_trait]
impl TableProvider for HeadTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let exec = MemorySourceConfig::try_new_exec(&self.partitions, Arc::clone(&self.schema), projection.cloned())?;
        Ok(exec)
    }
}
