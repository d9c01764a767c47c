//! Line filters that are not plain string or regex tests, as DataFusion UDFs of the `line`
//! column and a pattern literal, `name(line, pattern)`: being scalar functions of `line`,
//! they are pushed into the Parquet decoder like the other line filters.

use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, StringArray, StringViewArray};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// A test of one line against a pattern given as a string literal.
pub trait LineTest: Sized + Send + Sync + 'static {
    /// The UDF's name.
    const NAME: &'static str;
    /// Parses the pattern literal (once per batch).
    fn parse(pattern: &str) -> Result<Self, String>;
    /// True when `line` passes.
    fn test(&self, line: &str) -> bool;
}

/// `T::NAME(line, pattern)`: true for the lines that pass `T`'s test.
pub struct LineTestUdf<T> {
    signature: Signature,
    test: PhantomData<fn() -> T>,
}

impl<T: LineTest> LineTestUdf<T> {
    /// The UDF wrapped for use in plans.
    pub fn udf() -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(LineTestUdf::<T> { signature: Signature::string(2, Volatility::Immutable), test: PhantomData }))
    }
}

impl<T: LineTest> std::fmt::Debug for LineTestUdf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineTestUdf").field("name", &T::NAME).finish()
    }
}

impl<T: LineTest> PartialEq for LineTestUdf<T> {
    fn eq(&self, other: &Self) -> bool {
        self.signature == other.signature
    }
}

impl<T: LineTest> Eq for LineTestUdf<T> {}

impl<T: LineTest> Hash for LineTestUdf<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        T::NAME.hash(state);
        self.signature.hash(state);
    }
}

impl<T: LineTest> ScalarUDFImpl for LineTestUdf<T> {
    fn name(&self) -> &str {
        T::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let name = T::NAME;
        let [line, pattern] = args.args.as_slice() else {
            return Err(DataFusionError::Execution(format!("{name} takes two arguments")));
        };
        let pattern = match pattern {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(p)) | ScalarValue::Utf8View(Some(p)) | ScalarValue::LargeUtf8(Some(p))) => p,
            _ => return Err(DataFusionError::Execution(format!("{name}: the pattern must be a string literal"))),
        };
        let pattern = T::parse(pattern).map_err(DataFusionError::Execution)?;
        let lines: ArrayRef = match line {
            ColumnarValue::Array(a) => Arc::clone(a),
            ColumnarValue::Scalar(s) => s.to_array()?,
        };
        let out: BooleanArray = if let Some(a) = lines.as_any().downcast_ref::<StringArray>() {
            a.iter().map(|v| v.map(|l| pattern.test(l))).collect()
        } else if let Some(a) = lines.as_any().downcast_ref::<StringViewArray>() {
            a.iter().map(|v| v.map(|l| pattern.test(l))).collect()
        } else {
            return Err(DataFusionError::Execution(format!("{name}: unsupported line type {}", lines.data_type())));
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
