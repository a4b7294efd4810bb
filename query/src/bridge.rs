//! arrow-rs to polars without copying row by row: each column crosses through the Arrow C
//! data interface (arrow-rs exports it, polars-arrow imports it; the buffers are shared and
//! released by whichever side drops last).

use arrow::array::{Array, BooleanArray, RecordBatch};
use polars::prelude::*;

/// Columns `names` of `batch` as a polars `DataFrame` (in that order).
pub fn to_polars(batch: &RecordBatch, names: &[&str]) -> PolarsResult<DataFrame> {
    let mut columns = Vec::with_capacity(names.len());
    for name in names {
        let array = batch
            .column_by_name(name)
            .ok_or_else(|| polars_err!(ColumnNotFound: "{name}"))?;
        columns.push(Column::from(series_of(name, array.as_ref())?));
    }
    DataFrame::new(batch.num_rows(), columns)
}

/// One arrow-rs array as a polars `Series`, through the C data interface.
pub fn series_of(name: &str, array: &dyn Array) -> PolarsResult<Series> {
    let (ffi_array, ffi_schema) = arrow::ffi::to_ffi(&array.to_data())
        .map_err(|e| polars_err!(ComputeError: "exporting column {name} from arrow-rs: {e}"))?;
    // SAFETY: both structs are the C data interface's `ArrowArray` / `ArrowSchema` (the same
    // `#[repr(C)]` layout, checked by the size assertions below), freshly exported by arrow-rs
    // and valid; ownership of the array moves to polars, which calls its release callback.
    let (array, schema) = unsafe {
        const _: () = assert!(
            std::mem::size_of::<arrow::ffi::FFI_ArrowArray>()
                == std::mem::size_of::<polars_arrow::ffi::ArrowArray>()
        );
        const _: () = assert!(
            std::mem::size_of::<arrow::ffi::FFI_ArrowSchema>()
                == std::mem::size_of::<polars_arrow::ffi::ArrowSchema>()
        );
        (
            std::mem::transmute::<arrow::ffi::FFI_ArrowArray, polars_arrow::ffi::ArrowArray>(
                ffi_array,
            ),
            std::mem::transmute::<arrow::ffi::FFI_ArrowSchema, polars_arrow::ffi::ArrowSchema>(
                ffi_schema,
            ),
        )
    };
    // SAFETY: `schema` and `array` are valid C data interface structs (above).
    let field = unsafe { polars_arrow::ffi::import_field_from_c(&schema)? };
    let imported = unsafe { polars_arrow::ffi::import_array_from_c(array, field.dtype().clone())? };
    Series::from_arrow(name.into(), imported)
}

/// A polars boolean column as an arrow-rs keep mask: null (SQL's unknown) is false, as in a
/// SQL `WHERE`.
pub fn mask_of(column: &Column) -> PolarsResult<BooleanArray> {
    let bools = column.bool()?;
    Ok(bools.iter().map(|b| Some(b.unwrap_or(false))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float32Array, StringArray, UInt32Array};
    use std::sync::Arc;

    /// Strings (with nulls), floats and integers arrive with their values and nulls.
    #[test]
    fn columns_cross_with_values_and_nulls() {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "s",
                Arc::new(StringArray::from(vec![Some("a"), None, Some("héllo")])) as _,
            ),
            (
                "f",
                Arc::new(Float32Array::from(vec![Some(0.5), Some(1.5), None])) as _,
            ),
            ("u", Arc::new(UInt32Array::from(vec![1, 2, 3])) as _),
        ])
        .unwrap();
        // A slice exports with an offset: the import must honour it.
        let df = to_polars(&batch.slice(1, 2), &["u", "s", "f"]).unwrap();
        assert_eq!(df.height(), 2);
        let s: Vec<Option<&str>> = df.column("s").unwrap().str().unwrap().iter().collect();
        assert_eq!(s, vec![None, Some("héllo")]);
        let f: Vec<Option<f32>> = df.column("f").unwrap().f32().unwrap().iter().collect();
        assert_eq!(f, vec![Some(1.5), None]);
        let u: Vec<Option<u32>> = df.column("u").unwrap().u32().unwrap().iter().collect();
        assert_eq!(u, vec![Some(2), Some(3)]);
    }

    #[test]
    fn null_is_not_kept() {
        let c = Column::new("k".into(), [Some(true), None, Some(false)]);
        let m = mask_of(&c).unwrap();
        assert_eq!(
            m.iter().collect::<Vec<_>>(),
            vec![Some(true), Some(false), Some(false)]
        );
    }
}
