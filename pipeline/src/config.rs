//! The TOML pipeline config, parsed with serde (unknown keys are errors) and validated before
//! any work starts. Relative paths resolve against the config file's directory.
//!
//! ```toml
//! [[input]]
//! paths = ["raw/*.jsonl.gz"]     # files, globs or directories
//! format = "auto"                # auto | jsonl | parquet | text
//! text_field = "text"
//! id_field = "id"
//! domain_field = "domain"
//! default_domain = "web"
//!
//! [output]
//! dir = "out"
//!
//! [run]
//! workers = 2
//! batch_size = 1024
//! shard_mb = 64                  # split big files into shards of about this size
//! strict = false
//! intermediates = "none"         # none | lz4: the rows one phase hands to the next
//!
//! [[stages]]
//! type = "length"
//! min_chars = 20
//! ```

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::PipelineError;
use crate::stage::{FinishStep, StageEnv, StageKind, StageRegistry};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    #[serde(rename = "input")]
    pub inputs: Vec<InputConfig>,
    pub output: OutputConfig,
    #[serde(default)]
    pub run: RunConfig,
    #[serde(default)]
    pub stages: Vec<toml::Table>,
    /// Tokenize-and-pack settings, read by the tokenize crate (runs after curation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenize: Option<toml::Table>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    pub paths: Vec<String>,
    /// A registered input format (`jsonl`, `parquet`, `text`, …: `pipeline::reader::FORMATS`)
    /// or `auto`: each file's by its name.
    #[serde(default = "default_format")]
    pub format: String,
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// Field holding the document id; when a record lacks it the id is `source:line`.
    #[serde(default = "default_id_field")]
    pub id_field: String,
    /// Field holding the domain label; when a record lacks it `default_domain` is used.
    #[serde(default = "default_domain_field")]
    pub domain_field: String,
    #[serde(default = "default_domain")]
    pub default_domain: String,
    /// For text directories: take each file's domain from the name of its parent directory.
    #[serde(default)]
    pub domain_from_dir: bool,
    /// For text directories: file extension of documents.
    #[serde(default = "default_text_extension")]
    pub text_extension: String,
    /// For text directories: how many files make one shard.
    #[serde(default = "default_files_per_shard")]
    pub files_per_shard: usize,
    /// For web archives: the content types (`type/subtype`) read as documents; empty means
    /// the default: `text/html`, `application/xhtml+xml` and `text/plain`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_types: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    pub dir: PathBuf,
    /// Also write curated documents as JSON lines beside the Parquet files.
    #[serde(default)]
    pub jsonl: bool,
    /// Keep rejected and quarantined documents under `OUT/rejected/`.
    #[serde(default = "yes")]
    pub rejected: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Worker threads; `--workers` overrides; default: all cores.
    pub workers: Option<usize>,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Fail the run at the first bad input record instead of quarantining it.
    #[serde(default)]
    pub strict: bool,
    /// Longer records (a JSON line, a text file) are skipped while reading, never held
    /// whole, and quarantined as `record_too_large`.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: u64,
    /// Target input size of one shard in MiB: larger uncompressed JSONL files are cut into
    /// byte ranges at line boundaries, Parquet files into runs of row groups, and text files
    /// are grouped up to this size, so every worker has work on any input.
    #[serde(default = "default_shard_mb")]
    pub shard_mb: u64,
    /// A batch is cut once its text reaches this many MiB (or `batch_size` documents), so
    /// memory stays flat however long the documents are. 4 measured best on 20 KB and 1 MB
    /// documents (benches/scale_bench.py): less memory, and no slower.
    #[serde(default = "default_batch_mb")]
    pub batch_mb: u64,
    /// Where a run whose output is in object storage (`s3://…`) writes before uploading
    /// (default `~/.cache/sluice/scratch/BUCKET/KEY`); it needs room for the whole output.
    /// Not part of the run's identity: any scratch dir gives the same output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scratch: Option<PathBuf>,
    /// How the rows one phase hands to the next (`work/phase-K/`) are stored. Default:
    /// `none` on a disk, `lz4` for an `s3://` output (they are uploaded, for resumes).
    /// Not part of the run's identity: either gives the same output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intermediates: Option<IntermediateCodec>,
}

/// The codec of the Parquet files one phase of a run writes for the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntermediateCodec {
    /// Uncompressed: the fastest where bytes are cheap (a local disk). About 1.5x LZ4's size.
    #[default]
    None,
    /// LZ4: for bytes that cross a network (object storage, a filesystem shared by many
    /// ranks), two thirds of the uncompressed size for ~5% of a run's CPU time.
    Lz4,
}

fn default_shard_mb() -> u64 {
    64
}

fn default_batch_mb() -> u64 {
    4
}

fn default_max_record_bytes() -> u64 {
    64 << 20
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            workers: None,
            batch_size: default_batch_size(),
            strict: false,
            max_record_bytes: default_max_record_bytes(),
            shard_mb: default_shard_mb(),
            batch_mb: default_batch_mb(),
            scratch: None,
            intermediates: None,
        }
    }
}

fn default_format() -> String {
    "auto".into()
}

fn default_text_field() -> String {
    "text".into()
}
fn default_id_field() -> String {
    "id".into()
}
fn default_domain_field() -> String {
    "domain".into()
}
fn default_domain() -> String {
    "default".into()
}
fn default_text_extension() -> String {
    "txt".into()
}
fn default_files_per_shard() -> usize {
    256
}
fn default_batch_size() -> usize {
    1024
}
fn yes() -> bool {
    true
}

/// A config read from disk, validated, with its stages built and its paths resolved.
pub struct LoadedPipeline {
    pub config: PipelineConfig,
    pub config_path: PathBuf,
    pub base_dir: PathBuf,
    pub stages: Vec<StageKind>,
    /// The step after curation (`[tokenize]`), if configured.
    pub finish: Option<Box<dyn FinishStep>>,
    /// Files the stages and the finish step read at build time (models, word lists, the
    /// tokenizer): their contents are part of the run's fingerprint.
    pub referenced_files: Vec<PathBuf>,
}

/// One `PipelineError::Config` listing every problem found, or `Ok` when there is none.
pub fn config_errors(path: &Path, errors: Vec<String>) -> Result<(), PipelineError> {
    match join_problems(errors) {
        None => Ok(()),
        Some(message) => Err(PipelineError::Config {
            path: path.to_path_buf(),
            message,
        }),
    }
}

/// Problems as one message: the only one, or `N problems:` and a list.
pub fn join_problems(errors: Vec<String>) -> Option<String> {
    match errors.len() {
        0 => None,
        1 => errors.into_iter().next(),
        n => Some(format!("{n} problems:\n  - {}", errors.join("\n  - "))),
    }
}

/// A TOML config read section by section, so that the mistakes of every section are
/// reported together (serde stops at the first one inside a section). Used by the
/// pipeline and the train configs.
pub struct Sections {
    table: toml::Table,
    known: &'static [&'static str],
    errors: Vec<String>,
}

impl Sections {
    /// Parses the TOML syntax; a syntax error is the one problem reported.
    pub fn parse(text: &str, known: &'static [&'static str]) -> Result<Self, String> {
        let table = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
        Ok(Sections {
            table,
            known,
            errors: Vec::new(),
        })
    }

    /// Section `name`, if present and well-formed; a malformed one is recorded.
    pub fn take<T: DeserializeOwned>(&mut self, name: &str) -> Option<T> {
        let value = self.table.remove(name)?;
        self.value(name, value)
    }

    /// Section `name`, or its default when absent (or malformed, which is recorded).
    pub fn take_or_default<T: DeserializeOwned + Default>(&mut self, name: &str) -> T {
        self.take(name).unwrap_or_default()
    }

    /// A required section; its absence is recorded as `missing`.
    pub fn require<T: DeserializeOwned>(&mut self, name: &str, missing: &str) -> Option<T> {
        if !self.table.contains_key(name) {
            self.errors.push(missing.to_string());
        }
        self.take(name)
    }

    /// Deserializes `value`, recording why it cannot be under the key `name`.
    pub fn value<T: DeserializeOwned>(&mut self, name: &str, value: toml::Value) -> Option<T> {
        T::deserialize(value)
            .map_err(|e| {
                self.errors
                    .push(format!("{name}: {}", e.message().trim_end()))
            })
            .ok()
    }

    /// Every problem found, unknown sections included.
    pub fn finish(mut self) -> Vec<String> {
        for key in self.table.keys() {
            self.errors.push(format!(
                "unknown section '{key}' (sections: {})",
                self.known.join(", ")
            ));
        }
        self.errors
    }
}

impl PipelineConfig {
    /// Every section parsed on its own (serde stops at a section's first mistake, not at
    /// the config's): the config, with a missing or malformed section at its default (an
    /// empty `output.dir` for `[output]`), and every section's mistakes. A TOML syntax
    /// error is the one problem.
    fn sections(s: &str, path: &Path) -> Result<(Self, Vec<String>), PipelineError> {
        let err = |message| PipelineError::Config {
            path: path.to_path_buf(),
            message,
        };
        let mut t =
            Sections::parse(s, &["input", "output", "run", "stages", "tokenize"]).map_err(err)?;
        let inputs: Vec<toml::Value> = t
            .require("input", "no [[input]] table; add one with `paths = [...]`")
            .unwrap_or_default();
        let inputs: Vec<InputConfig> = (inputs.into_iter().enumerate())
            .filter_map(|(i, v)| t.value(&format!("input[{i}]"), v))
            .collect();
        let output = t.require("output", "no [output] table; add one with `dir = \"out\"`");
        let run = t.take_or_default("run");
        let stages = t.take_or_default("stages");
        let tokenize = t.take("tokenize");
        let output = output.unwrap_or(OutputConfig {
            dir: PathBuf::new(),
            jsonl: false,
            rejected: true,
        });
        let config = PipelineConfig {
            inputs,
            output,
            run,
            stages,
            tokenize,
        };
        Ok((config, t.finish()))
    }

    /// The values serde cannot check (empty lists, zero sizes), each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let mut err = |m: String| errors.push(m);
        if self.inputs.is_empty() {
            err("no [[input]] table; add one with `paths = [...]`".into());
        }
        for (i, input) in self.inputs.iter().enumerate() {
            if input.paths.is_empty() {
                err(format!(
                    "input[{i}].paths is empty; list files, globs or directories"
                ));
            }
            if input.text_field.is_empty() {
                err(format!(
                    "input[{i}].text_field is empty; name the field holding the text"
                ));
            }
            let format = input.format.as_str();
            if format != "auto" && crate::reader::InputKind::named(format).is_none() {
                err(format!(
                    "input[{i}].format = \"{format}\" is not a format sluice reads; use auto or one of {}",
                    crate::reader::InputKind::names().join(", ")
                ));
            }
            if input.files_per_shard == 0 {
                err(format!("input[{i}].files_per_shard must be at least 1"));
            }
            for t in &input.content_types {
                let ok = t.split_once('/').is_some_and(|(a, b)| {
                    let token = |s: &str| {
                        !s.is_empty()
                            && s.bytes()
                                .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
                    };
                    token(a) && token(b)
                });
                if !ok {
                    err(format!(
                        "input[{i}].content_types: \"{t}\" is not a content type such as \"text/html\""
                    ));
                }
            }
            if input.default_domain.is_empty() {
                err(format!(
                    "input[{i}].default_domain is empty; give a label such as \"web\""
                ));
            }
        }
        let r = &self.run;
        if r.max_record_bytes == 0 {
            err("run.max_record_bytes must be at least 1".into());
        }
        if r.shard_mb == 0 || r.shard_mb > 1 << 20 {
            err(format!(
                "run.shard_mb = {} must be 1..=1048576 (64 is a good start)",
                r.shard_mb
            ));
        }
        if r.batch_mb == 0 || r.batch_mb > 1024 {
            err(format!(
                "run.batch_mb = {} must be 1..=1024 (4 is a good start)",
                r.batch_mb
            ));
        }
        if r.batch_size == 0 {
            err("run.batch_size must be at least 1 (1024 is a good start)".into());
        }
        if r.workers == Some(0) {
            err("run.workers must be at least 1".into());
        }
        if self.output.dir.as_os_str().is_empty() {
            err("output.dir is empty; name the run's output directory".into());
        }
        errors
    }
}

impl LoadedPipeline {
    /// Reads, validates and builds everything; no file outside the config is touched.
    pub fn load(path: &Path, registry: &StageRegistry) -> Result<Self, PipelineError> {
        let text = std::fs::read_to_string(path).map_err(|e| PipelineError::io(path, e))?;
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // Absolute, so that names derived from it do not depend on the working directory.
        let base_dir = parent
            .canonicalize()
            .map_err(|e| PipelineError::io(parent, e))?;
        Self::from_toml_str(&text, path, base_dir, registry)
    }

    /// `text`, the config at `config_path` whose relative paths are under `base_dir`,
    /// validated and built, with every mistake in one report.
    fn from_toml_str(
        text: &str,
        config_path: &Path,
        base_dir: PathBuf,
        registry: &StageRegistry,
    ) -> Result<Self, PipelineError> {
        let (config, errors) = PipelineConfig::sections(text, config_path)?;
        // A malformed section leaves its default in `config`, so the values serde cannot
        // check wait for a config whose sections all parse; the stages are built either
        // way, so that one report names their mistakes too.
        let errors = match errors.is_empty() {
            true => config.problems(),
            false => errors,
        };
        Self::build(config, config_path, base_dir, registry, errors)
    }

    /// Builds the stages and the finish step, adding their mistakes to `errors`; any
    /// mistake refuses the config.
    fn build(
        config: PipelineConfig,
        config_path: &Path,
        base_dir: PathBuf,
        registry: &StageRegistry,
        mut errors: Vec<String>,
    ) -> Result<Self, PipelineError> {
        let env = StageEnv::new(base_dir.clone());
        let mut stages = Vec::with_capacity(config.stages.len());
        let mut built = Vec::with_capacity(config.stages.len());
        for (i, table) in config.stages.iter().enumerate() {
            match registry.build(table.clone(), &env) {
                Ok(stage) => {
                    stages.push(stage);
                    built.push(i);
                }
                Err(message) => errors.push(format!("stages[{i}]: {message}")),
            }
        }
        check_columns(&stages, &built, &mut errors);
        let finish = config.tokenize.as_ref().and_then(|t| {
            (registry.build_finish("tokenize", t.clone(), &env))
                .map_err(|message| errors.push(format!("tokenize: {message}")))
                .ok()
        });
        config_errors(config_path, errors)?;
        Ok(LoadedPipeline {
            config,
            config_path: config_path.to_path_buf(),
            base_dir,
            stages,
            finish,
            referenced_files: env.referenced_files(),
        })
    }

    /// `p` resolved against the config's directory, with `.` and `..` folded away.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        clean_path(&self.base_dir.join(p))
    }
}

/// Walks the document columns through the stages that built (`index[k]` is the config index
/// of `stages[k]`) in order: every column a stage reads must come from the reader or an
/// earlier stage.
fn check_columns(stages: &[StageKind], index: &[usize], errors: &mut Vec<String>) {
    let schema = crate::document::base_schema();
    let mut columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    for (&i, stage) in index.iter().zip(stages) {
        match stage.output_columns(&columns) {
            Ok(c) => columns = c,
            Err(message) => errors.push(format!("stages[{i}] ({}): {message}", stage.name())),
        }
    }
}

/// `path` relative to `base` (both absolute and clean), with `..` where needed.
pub fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let p: Vec<_> = path.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return path.to_path_buf();
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    out
}

/// Folds `.` and `name/..` out of a path without touching the file system.
pub fn clean_path(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(s: &str) -> Result<LoadedPipeline, PipelineError> {
        let registry = StageRegistry::with_builtins();
        LoadedPipeline::from_toml_str(s, Path::new("p.toml"), PathBuf::from("."), &registry)
    }

    const OK: &str = r#"
        [[input]]
        paths = ["a.jsonl"]
        [output]
        dir = "out"
        [[stages]]
        type = "length"
        min_chars = 5
    "#;

    #[test]
    fn paths_are_folded() {
        assert_eq!(
            clean_path(Path::new("pipelines/../out/x")),
            PathBuf::from("out/x")
        );
        assert_eq!(clean_path(Path::new("./a/./b")), PathBuf::from("a/b"));
        assert_eq!(clean_path(Path::new("../a")), PathBuf::from("../a"));
        assert_eq!(clean_path(Path::new("/x/../y")), PathBuf::from("/y"));
        assert_eq!(
            relative_to(Path::new("/r/data/a.jsonl"), Path::new("/r/pipelines")),
            PathBuf::from("../data/a.jsonl")
        );
        assert_eq!(
            relative_to(Path::new("/r/p/a"), Path::new("/r/p")),
            PathBuf::from("a")
        );
    }

    #[test]
    fn minimal_config_loads_with_defaults() {
        let p = load_str(OK).unwrap();
        assert_eq!(p.config.inputs[0].text_field, "text");
        assert_eq!(p.config.run.batch_size, 1024);
        assert!(p.config.output.rejected);
        assert_eq!(p.stages.len(), 1);
        assert_eq!(p.stages[0].name(), "length");
    }

    #[test]
    fn unknown_keys_fail_with_their_name() {
        let e = load_str(&OK.replace("dir = \"out\"", "dir = \"out\"\ndirr = 1"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("dirr"), "{e}");
        let e = load_str(&OK.replace("min_chars = 5", "min_char = 5"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("stages[0]") && e.contains("min_char"), "{e}");
    }

    /// Mistakes in several sections and stages come back together, each naming its key;
    /// the values serde cannot check (`batch_size = 0`) once every section parses.
    #[test]
    fn every_mistake_is_reported_at_once() {
        let bad = OK
            .replace("dir = \"out\"", "dirr = \"out\"")
            .replace("min_chars = 5", "min_chars = 5\nmax_chars = 1")
            .replace(
                "paths = [\"a.jsonl\"]",
                "paths = [\"a.jsonl\"]\ntext_feild = \"t\"",
            )
            + "\n[[stages]]\ntype = \"lenght\"\n[run]\nbatch_size = 0\n[extra]\n";
        let e = load_str(&bad).err().unwrap().to_string();
        for want in [
            "5 problems",
            "output: unknown field `dirr`",
            "input[0]: unknown field `text_feild`",
            "unknown section 'extra'",
            "lower min_chars",
            "stages[1]: unknown stage type 'lenght'",
        ] {
            assert!(e.contains(want), "{want} missing from: {e}");
        }
        let fixed = bad
            .replace("dirr", "dir")
            .replace("text_feild = \"t\"", "")
            .replace("[extra]", "");
        let e = load_str(&fixed).err().unwrap().to_string();
        for want in [
            "3 problems",
            "run.batch_size must be at least 1",
            "stages[0]: ",
            "lower min_chars",
            "stages[1]: unknown stage type 'lenght'",
        ] {
            assert!(e.contains(want), "{want} missing from: {e}");
        }
    }

    #[test]
    fn impossible_values_say_what_to_change() {
        let e = load_str(&format!("{OK}\n[run]\nbatch_size = 0"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("run.batch_size must be at least 1"), "{e}");
        let e = load_str(&OK.replace("type = \"length\"", "type = \"lenght\""))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("unknown stage type 'lenght'") && e.contains("length"),
            "{e}"
        );
        let e = load_str(&OK.replace("min_chars = 5", "min_chars = 5\nmax_chars = 1"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("lower min_chars"), "{e}");
        let e = load_str(&OK.replace("paths = [\"a.jsonl\"]", "paths = []"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("input[0].paths is empty"), "{e}");
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Configs assembled from real keys, odd values and junk: loading never panics; it
        /// gives a pipeline or an error that names the file.
        #[test]
        fn any_config_loads_or_is_refused(lines in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just("[[input]]".to_string()),
                proptest::strategy::Just("[[stages]]".to_string()),
                proptest::strategy::Just("[output]".to_string()),
                proptest::strategy::Just("[run]".to_string()),
                proptest::strategy::Just("[tokenize]".to_string()),
                (
                    proptest::sample::select(vec![
                        "paths", "type", "min_chars", "max_chars", "batch_size", "workers",
                        "dir", "format", "text_field", "files_per_shard", "strict",
                        "max_record_bytes", "default_domain", "jsonl", "bogus",
                    ]),
                    proptest::sample::select(vec![
                        "[\"a.jsonl\"]", "[]", "\"length\"", "\"nope\"", "0", "-1",
                        "18446744073709551615", "1e308", "true", "\"\"", "{}", "[[1]]",
                        "\"\\u0000\"",
                    ]),
                )
                    .prop_map(|(k, v)| format!("{k} = {v}")),
                "[ -~]{0,20}",
            ],
            0..16,
        )) {
            let text = lines.join("\n");
            if let Err(e) = load_str(&text) {
                proptest::prop_assert!(e.to_string().contains("p.toml"), "{}", e);
            }
        }
    }
}
