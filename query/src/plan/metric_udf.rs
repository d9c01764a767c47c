//! Scalar UDFs of metric plans: label-set functions on the `series` column
//! ([`SeriesUdf`]: vector-aggregation grouping, `label_replace`) and sample arithmetic and
//! comparisons on `value` ([`BinOpUdf`]), with Loki's semantics from [`super::ops`].

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use super::ops;
use crate::logql::ast::{BinOp, Grouping};

/// A function from a series label string to another.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SeriesFn {
    /// The group labels of a vector aggregation.
    Group(Option<Grouping>),
    /// `label_replace(dst, replacement, src, regex)`.
    LabelReplace {
        /// Destination label.
        dst: String,
        /// Replacement template.
        replacement: String,
        /// Source label.
        src: String,
        /// Regex (anchored when applied).
        regex: String,
    },
}

/// `skald_series(series)` with the function fixed at planning time.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SeriesUdf {
    name: String,
    func: SeriesFn,
    signature: Signature,
}

impl SeriesUdf {
    /// The UDF for `func`.
    pub fn udf(func: SeriesFn) -> Result<Arc<ScalarUDF>, String> {
        if let SeriesFn::LabelReplace { regex, .. } = &func {
            ops::label_replace_regex(regex)?;
        }
        let name = match &func {
            SeriesFn::Group(None) => "skald_group".to_string(),
            SeriesFn::Group(Some(g)) => format!("skald_group_{}({})", if g.without { "without" } else { "by" }, g.labels.join(",")),
            SeriesFn::LabelReplace { dst, src, .. } => format!("skald_label_replace({dst},{src})"),
        };
        Ok(Arc::new(ScalarUDF::new_from_impl(SeriesUdf { name, func, signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable) })))
    }
}

fn array(v: &ColumnarValue, rows: usize) -> DfResult<ArrayRef> {
    match v {
        ColumnarValue::Array(a) => Ok(Arc::clone(a)),
        ColumnarValue::Scalar(s) => s.to_array_of_size(rows),
    }
}

impl ScalarUDFImpl for SeriesUdf {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let input = array(args.args.first().ok_or_else(|| DataFusionError::Internal("series argument".into()))?, args.number_rows)?;
        let series = input.as_any().downcast_ref::<StringArray>().ok_or_else(|| DataFusionError::Internal("series must be Utf8".into()))?;
        let out: StringArray = match &self.func {
            SeriesFn::Group(g) => series.iter().map(|s| s.map(|s| ops::group_labels(s, g.as_ref()))).collect(),
            SeriesFn::LabelReplace { dst, replacement, src, regex } => {
                let re = ops::label_replace_regex(regex).map_err(DataFusionError::Execution)?;
                series.iter().map(|s| s.map(|s| ops::label_replace(s, dst, replacement, src, &re))).collect()
            }
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `lhs op rhs` on values: arithmetic (Float64), comparison filters (Boolean) or `bool`
/// comparisons (Float64 0/1).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BinOpUdf {
    name: String,
    op: BinOp,
    filter: bool,
    signature: Signature,
}

impl BinOpUdf {
    /// The UDF; `filter` makes a comparison return Boolean (keep the sample or not).
    pub fn udf(op: BinOp, filter: bool) -> Arc<ScalarUDF> {
        let name = format!("skald_{}{:?}", if filter { "filter_" } else { "" }, op).to_lowercase();
        Arc::new(ScalarUDF::new_from_impl(BinOpUdf {
            name,
            op,
            filter,
            signature: Signature::exact(vec![DataType::Float64, DataType::Float64], Volatility::Immutable),
        }))
    }
}

impl ScalarUDFImpl for BinOpUdf {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(if self.filter { DataType::Boolean } else { DataType::Float64 })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [l, r] = args.args.as_slice() else {
            return Err(DataFusionError::Internal(format!("{} takes two arguments", self.name)));
        };
        let (l, r) = (array(l, args.number_rows)?, array(r, args.number_rows)?);
        let l = l.as_any().downcast_ref::<Float64Array>().ok_or_else(|| DataFusionError::Internal("lhs must be Float64".into()))?;
        let r = r.as_any().downcast_ref::<Float64Array>().ok_or_else(|| DataFusionError::Internal("rhs must be Float64".into()))?;
        let pairs = l.iter().zip(r.iter());
        Ok(ColumnarValue::Array(if self.filter {
            Arc::new(pairs.map(|(a, b)| Some(ops::compare(self.op, a?, b?))).collect::<BooleanArray>())
        } else {
            Arc::new(pairs.map(|(a, b)| Some(ops::arith(self.op, a?, b?))).collect::<Float64Array>())
        }))
    }
}
