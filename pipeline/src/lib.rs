//! The spine of sluice: the document model (Arrow `RecordBatch`es with `id`, `text`,
//! `source`, `domain`, `meta`), the [`Stage`] and [`Barrier`] traits every component
//! implements, readers (JSONL plain/.gz/.zst, Parquet, text directories) that quarantine bad
//! records instead of failing, Parquet/JSONL writers, the TOML pipeline config, and the
//! sharded executor whose runs are parallel, resumable, atomic and safe to start from cron.

pub mod chars;
pub mod config;
pub mod document;
pub mod durable;
pub mod error;
pub mod executor;
pub mod layout;
pub mod lock;
mod progress;
pub mod reader;
pub mod remote_out;
pub mod row;
pub mod scan;
pub mod stage;
pub mod stages;
pub mod stats;
pub mod testing;
pub mod writer;

pub use config::{IntermediateCodec, LoadedPipeline, PipelineConfig};
pub use error::{PipelineError, StageError};
pub use executor::{Executor, Ranks, RunOptions, RunSummary, Step, Task};
pub use layout::OutputLayout;
pub use remote_out::RemoteOut;
pub use row::{meta_field, ColumnType, Doc, RowAdapter, RowOut, RowStage, Verdict};
pub use stage::{
    columns_plus, Barrier, BarrierObserver, BarrierRun, Decisions, FinishPart, FinishStep,
    RunGuard, Stage, StageContext, StageEnv, StageInfo, StageKind, StageOutput, StageRegistry,
};
pub use stats::{RunStats, StageStats};
pub use writer::PartWriter;
