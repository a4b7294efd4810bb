//! Deduplication barrier stages.
