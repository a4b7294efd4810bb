//! HTML for the `html_extract` stage: a lenient tokenizer and the main-content extractor.

pub mod extract;
pub mod tokens;
