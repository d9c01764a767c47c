//! Plugs Skald's operators into DataFusion's physical planner: the logical extension nodes
//! ([`LogPipelineNode`], [`RangeAggNode`], [`VectorMatchNode`]) become their executors.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::Result as DfResult;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use datafusion::catalog::Session;

use super::pipeline_exec::{LogPipelineExec, LogPipelineNode};
use super::range_exec::{RangeAggExec, RangeAggNode};
use super::vector_match::{VectorMatchExec, VectorMatchNode};

/// The session's query planner: DataFusion's, with Skald's extension planner.
#[derive(Debug, Default)]
pub struct SkaldQueryPlanner;

#[async_trait]
impl QueryPlanner for SkaldQueryPlanner {
    async fn create_physical_plan(&self, logical_plan: &LogicalPlan, session: &dyn Session) -> DfResult<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(SkaldExtensionPlanner)])
            .create_physical_plan(logical_plan, session)
            .await
    }
}

/// Plans Skald's logical extension nodes.
#[derive(Debug, Default)]
pub struct SkaldExtensionPlanner;

#[async_trait]
impl ExtensionPlanner for SkaldExtensionPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let any = node.as_any();
        if let Some(n) = any.downcast_ref::<LogPipelineNode>() {
            return Ok(Some(Arc::new(LogPipelineExec::new(Arc::clone(&physical_inputs[0]), Arc::clone(n.spec())))));
        }
        if let Some(n) = any.downcast_ref::<RangeAggNode>() {
            return Ok(Some(Arc::new(RangeAggExec::new(Arc::clone(&physical_inputs[0]), Arc::clone(n.spec())))));
        }
        if let Some(n) = any.downcast_ref::<VectorMatchNode>() {
            return Ok(Some(Arc::new(VectorMatchExec::new(
                Arc::clone(&physical_inputs[0]),
                Arc::clone(&physical_inputs[1]),
                Arc::new(n.spec().clone()),
            ))));
        }
        Ok(None)
    }
}
