//! `length`: keeps documents whose text has between `min_chars` and `max_chars` characters.

use arrow::array::{Array, RecordBatch};
use serde::Deserialize;

use crate::document::{str_column, TEXT};
use crate::error::StageError;
use crate::stage::{
    parse_stage_table, Decisions, Stage, StageContext, StageEnv, StageKind, StageOutput,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LengthConfig {
    #[serde(default)]
    min_chars: usize,
    #[serde(default = "usize_max")]
    max_chars: usize,
}

fn usize_max() -> usize {
    usize::MAX
}

#[derive(Debug)]
pub struct LengthFilter {
    min_chars: usize,
    max_chars: usize,
}

impl LengthFilter {
    pub fn new(min_chars: usize, max_chars: usize) -> Result<Self, String> {
        if min_chars > max_chars {
            return Err(format!(
                "min_chars ({min_chars}) is larger than max_chars ({max_chars}); lower min_chars or raise max_chars"
            ));
        }
        Ok(LengthFilter {
            min_chars,
            max_chars,
        })
    }
}

pub(crate) fn build(table: toml::Table, _env: &StageEnv) -> Result<StageKind, String> {
    let c: LengthConfig = parse_stage_table(table)?;
    Ok(StageKind::Stream(Box::new(LengthFilter::new(
        c.min_chars,
        c.max_chars,
    )?)))
}

impl Stage for LengthFilter {
    fn name(&self) -> &str {
        "length"
    }

    fn process(&self, batch: RecordBatch, _: &mut StageContext) -> Result<StageOutput, StageError> {
        let text = str_column(&batch, TEXT)?;
        let mut d = Decisions::with_capacity(batch.num_rows());
        for i in 0..text.len() {
            // Byte length bounds the char count from above and below (1..=4 bytes per char),
            // so most documents are decided without counting.
            let bytes = text.value(i).len();
            let chars = if bytes >= self.min_chars && bytes / 4 > self.max_chars {
                bytes / 4
            } else if bytes < self.min_chars {
                bytes
            } else {
                text.value(i).chars().count()
            };
            if chars < self.min_chars {
                d.reject("length.too_short", None);
            } else if chars > self.max_chars {
                d.reject("length.too_long", None);
            } else {
                d.keep();
            }
        }
        Ok(d.finish(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::batch_of as batch;

    #[test]
    fn counts_chars_not_bytes() {
        let f = LengthFilter::new(3, 4).unwrap();
        let out = f
            .process(
                batch(&["ab", "股票代码", "abcde", "abc", "股票代码K线图"]),
                &mut StageContext::new(0),
            )
            .unwrap();
        let keep: Vec<bool> = (0..5).map(|i| out.keep.value(i)).collect();
        assert_eq!(keep, vec![false, true, false, true, false]);
        assert_eq!(out.reason.value(0), "length.too_short");
        assert_eq!(out.reason.value(2), "length.too_long");
        assert!(out.reason.is_null(1));
    }

    #[test]
    fn rejects_impossible_bounds() {
        assert!(LengthFilter::new(10, 2).unwrap_err().contains("min_chars"));
    }
}
