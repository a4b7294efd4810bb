//! The `sluice` command line: parses arguments and calls the crates; no logic of its own.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod cluster;
mod datasets_cmd;
mod decont_cmd;
mod export_cmd;
mod index_cmd;
mod inspect;
mod query_cmd;
#[cfg(feature = "query")]
mod report;
mod train_cmd;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use pipeline::{Executor, LoadedPipeline, RunOptions, StageRegistry};

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Turns raw text into training-ready data and feeds it to a trainer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline; rerunning the same command resumes an interrupted run.
    Run {
        /// Pipeline config (TOML).
        config: PathBuf,
        /// Worker threads (default: run.workers, else all cores). Does not change the output.
        #[arg(long)]
        workers: Option<usize>,
        /// Output directory or s3:// URL (default: output.dir of the config).
        #[arg(long)]
        out: Option<String>,
        /// This process's rank among `--world` processes sharing the output dir (index-only
        /// engines: Kubernetes Indexed Jobs, Ray tasks). Under mpirun or srun the rank and
        /// size come from the environment.
        #[arg(long, requires = "world")]
        rank: Option<usize>,
        /// How many processes run this pipeline together (see --rank).
        #[arg(long, requires = "rank")]
        world: Option<usize>,
        /// Submit the run to Slurm as job arrays (one per step, chained with afterok) and
        /// return; rerunning submits only what is unfinished.
        #[arg(long, requires = "tasks", conflicts_with_all = ["rank", "world"])]
        slurm: bool,
        /// Array tasks per step with --slurm.
        #[arg(long, requires = "slurm")]
        tasks: Option<usize>,
        /// Slurm partition with --slurm.
        #[arg(long, requires = "slurm")]
        partition: Option<String>,
        /// Extra sbatch argument with --slurm (repeatable), e.g. --sbatch=--time=4:00:00.
        #[arg(long, requires = "slurm", allow_hyphen_values = true)]
        sbatch: Vec<String>,
    },
    /// One step of one phase of a run for one rank, as a scheduler's job runs it (`sluice run
    /// --slurm` submits these). Refused if the step's inputs are not all there.
    Task {
        config: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        workers: Option<usize>,
        /// shards, resolve-parts, resolve or finish.
        #[arg(long)]
        step: pipeline::Step,
        #[arg(long)]
        phase: usize,
        #[arg(long, default_value_t = 0)]
        rank: usize,
        #[arg(long, default_value_t = 1)]
        world: usize,
    },
    /// Summarise a run's output dir (stages, reject reasons) or a shard set (tokens per domain).
    Inspect { dir: PathBuf },
    /// SQL over a finished run (polars): tables curated, rejected, quarantine, stats (a row
    /// per stage and reason), counters and shards, scanned from the files, e.g.
    /// `sluice query out "SELECT reason, count(*) AS n FROM rejected GROUP BY reason ORDER BY n DESC"`.
    Query(query_cmd::QueryArgs),
    /// A few documents of a finished run, picked reproducibly by seed: rejected ones (by
    /// --reason, --stage, --domain) or kept ones (--kept), with reason, detail and an excerpt.
    Sample(query_cmd::SampleArgs),
    /// Write an HTML report of a run (funnel, reject reasons, tokens per domain) and,
    /// with --train, of a training run (loss curves, mixture weights).
    Report(query_cmd::ReportArgs),
    /// List the stage types a pipeline config can use: what each does, its reject reasons
    /// and the columns it adds.
    Stages,
    /// Print the LSH banding that minhash_dedup picks and its S-curve.
    MinhashParams {
        #[arg(long, default_value_t = 0.8)]
        threshold: f64,
        #[arg(long, default_value_t = 128)]
        num_perm: usize,
    },
    /// Tokenizer commands.
    Tokenizer {
        #[command(subcommand)]
        command: TokenizerCommand,
    },
    /// A run's token shards in another trainer's format (megatron, litdata, mds), resumable.
    Export(export_cmd::ExportArgs),
    /// Benchmark decontamination: build the index the `decontaminate` stage reads.
    Decont {
        #[command(subcommand)]
        command: decont_cmd::DecontCommand,
    },
    /// Persistent dedup indexes (`index = PATH` of exact_dedup / minhash_dedup): info,
    /// verify, compact.
    Index {
        #[command(subcommand)]
        command: index_cmd::IndexCommand,
    },
    /// Train a GPT on a shard manifest (TRAIN.toml); rerunning resumes from the last
    /// checkpoint. Under `mpirun -np N` the ranks train data-parallel.
    Train {
        config: PathBuf,
        /// Run at most this many steps, then checkpoint and exit (a later run continues).
        #[arg(long)]
        stop_after: Option<u64>,
    },
    /// The main job on the bundled corpus: train a tokenizer (once), curate and pack with
    /// pipelines/default.toml, then train a tiny GPT with loss-weighted domain mixing.
    Demo {
        /// `default`: curate, tokenize and train on the bundled corpus; `web`: curate and
        /// tokenize the bundled WARC of real pages with pipelines/web.toml (no training).
        #[arg(long, default_value = "default", value_parser = ["default", "web"])]
        pipeline: String,
        /// Training steps.
        #[arg(long, default_value_t = 300)]
        steps: u64,
        /// Worker threads for curation.
        #[arg(long)]
        workers: Option<usize>,
        /// Where everything goes (corpus, tokenizer, curated run, model, report).
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
    /// Bundled and optional corpora: list them, fetch the optional ones into the cache.
    Datasets {
        #[command(subcommand)]
        command: datasets_cmd::DatasetsCommand,
    },
    /// Text classifier commands.
    Classifier {
        #[command(subcommand)]
        command: ClassifierCommand,
    },
}

#[derive(Subcommand)]
enum TokenizerCommand {
    /// Train a byte-level BPE tokenizer (tokenizers crate) and write tokenizer.json.
    Train {
        /// Curated Parquet (file or dir), .jsonl[.gz] or .txt files.
        #[arg(long, required = true, num_args = 1..)]
        input: Vec<PathBuf>,
        #[arg(long)]
        vocab_size: usize,
        #[arg(long)]
        out: PathBuf,
        /// Special tokens, first in the vocabulary (EOS first).
        #[arg(long, num_args = 1.., default_values = ["<|endoftext|>", "<|pad|>"])]
        special: Vec<String>,
        #[arg(long, default_value = "text")]
        text_field: String,
    },
}

fn tokenizer_train(cmd: TokenizerCommand) -> Result<()> {
    let TokenizerCommand::Train {
        input,
        vocab_size,
        out,
        special,
        text_field,
    } = cmd;
    let texts = tokenize::texts::read_texts(&input, &text_field)?;
    let n = texts.len();
    tokenize::train_bpe(texts.into_iter(), vocab_size, &special, &out)?;
    let tok = tokenize::Tok::load(&out, &special[0], None)?;
    println!(
        "trained byte-level BPE on {n} documents: {} tokens -> {}",
        tok.vocab_size,
        out.display()
    );
    Ok(())
}

#[derive(Subcommand)]
enum ClassifierCommand {
    /// Train a hashed n-gram linear classifier from labelled JSON lines (.jsonl or .jsonl.gz).
    Train {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "text")]
        text_field: String,
        #[arg(long, default_value = "label")]
        label_field: String,
        #[arg(long, default_value_t = 20)]
        epochs: usize,
        #[arg(long, default_value_t = 0.5)]
        lr: f32,
        /// Hash buckets (model size: buckets × labels × 4 bytes).
        #[arg(long, default_value_t = 1 << 18)]
        buckets: u32,
        /// Every Nth example is held out to report accuracy (0: none).
        #[arg(long, default_value_t = 10)]
        holdout_every: usize,
    },
}

fn classifier_train(cmd: ClassifierCommand) -> Result<()> {
    use filters::classifier::{read_labelled, TextClassifier, TrainOptions};
    let ClassifierCommand::Train {
        input,
        out,
        text_field,
        label_field,
        epochs,
        lr,
        buckets,
        holdout_every,
    } = cmd;
    let read = read_labelled(&input, &text_field, &label_field)?;
    if let Some(first) = &read.first_skipped {
        eprintln!(
            "warning: skipped {} lines that are not labelled examples (first: {first})",
            read.skipped
        );
    }
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (i, e) in read.examples.into_iter().enumerate() {
        if holdout_every > 0 && i % holdout_every == holdout_every - 1 {
            held.push(e);
        } else {
            train.push(e);
        }
    }
    let opts = TrainOptions {
        epochs,
        learning_rate: lr,
        buckets,
        ..Default::default()
    };
    let model = TextClassifier::train(&train, &opts)?;
    model.save(&out)?;
    println!(
        "trained on {} examples, labels: {}",
        train.len(),
        model.labels().join(", ")
    );
    if !held.is_empty() {
        let correct = held.iter().filter(|(t, l)| model.predict(t).0 == l).count();
        println!(
            "held-out accuracy: {:.3} ({correct}/{})",
            correct as f64 / held.len() as f64,
            held.len()
        );
    }
    println!("model: {}", out.display());
    Ok(())
}

/// `sluice stages`: every stage type, what it does, and its reject reasons and columns.
fn stages_table(r: &StageRegistry) -> String {
    let width = r.types().map(str::len).max().unwrap_or(0);
    let mut out = String::new();
    for i in r.infos() {
        out.push_str(&format!("{:width$}  {}\n", i.type_name, i.summary));
        out.push_str(&format!("{:width$}  -> {}\n", "", i.outputs));
    }
    out
}

fn registry() -> StageRegistry {
    let mut r = StageRegistry::with_builtins();
    filters::register(&mut r);
    dedup::register(&mut r);
    decont::register(&mut r);
    query_cmd::register(&mut r);
    tokenize::register(&mut r);
    r
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// The processes running one pipeline: `--rank/--world`, else an MPI or srun environment,
/// else this process alone.
fn ranks(rank: Option<usize>, world: Option<usize>) -> Result<pipeline::Ranks> {
    match (rank, world) {
        (Some(r), Some(w)) => pipeline::Ranks::new(r, w).map_err(anyhow::Error::msg),
        _ => Ok(pipeline::Ranks::from_env().unwrap_or_default()),
    }
}

/// The directory to read a run from: the run itself, or for an `s3://` run a local copy of
/// it (downloaded into the cache, refreshed where the bucket changed).
fn local_view(run: &Path) -> Result<PathBuf> {
    let text = run.to_string_lossy();
    match store::Location::parse(&text)? {
        store::Location::Local(p) => Ok(p),
        store::Location::Object(url) => Ok(pipeline::remote_out::local_view(&url)?),
    }
}

fn run(
    config: PathBuf,
    workers: Option<usize>,
    out: Option<String>,
    ranks: pipeline::Ranks,
) -> Result<()> {
    let mut loaded = LoadedPipeline::load(&config, &registry())?;
    let named = out
        .clone()
        .unwrap_or_else(|| loaded.config.output.dir.to_string_lossy().into_owned());
    let store::Location::Object(url) = store::Location::parse(&named)? else {
        return run_local(&config, &loaded, workers, out.map(PathBuf::from), ranks);
    };
    if ranks.world > 1 {
        bail!(
            "{url}: an s3:// output is written by one process (its --workers threads); \
             multi-process runs need a shared disk for now"
        );
    }
    // The intermediates are uploaded (a rerun elsewhere resumes from them): compressed,
    // unless the config says otherwise.
    let codec = &mut loaded.config.run.intermediates;
    codec.get_or_insert(pipeline::IntermediateCodec::Lz4);
    let scratch = match &loaded.config.run.scratch {
        Some(d) => loaded.resolve(d),
        None => pipeline::remote_out::default_scratch(&url),
    };
    let remote = pipeline::RemoteOut::open(&url, &scratch)?;
    tracing::info!(out = %url, scratch = %scratch.display(), "output in object storage; staging in scratch");
    let result = run_local(&config, &loaded, workers, Some(scratch), ranks);
    let finished = remote.finish(result.is_ok());
    let io = store::counters();
    eprintln!(
        "object storage: {} requests, {} retried, {:.1} MB read, {:.1} MB written",
        io.requests,
        io.retries,
        io.bytes_read as f64 / 1e6,
        io.bytes_written as f64 / 1e6
    );
    result?;
    finished?;
    println!("output: {url}");
    Ok(())
}

/// Runs the pipeline into a local directory (`out`, else the config's output.dir).
fn run_local(
    config: &Path,
    loaded: &LoadedPipeline,
    workers: Option<usize>,
    out: Option<PathBuf>,
    ranks: pipeline::Ranks,
) -> Result<()> {
    let exec = Executor::new(
        loaded,
        &RunOptions {
            workers,
            out_dir: out,
            ranks,
        },
    )?;
    tracing::info!(
        shards = exec.shards().len(),
        rank = ranks.rank,
        world = ranks.world,
        out = %exec.out_dir().display(),
        "starting run of {}",
        config.display()
    );
    let summary = exec.run()?;
    if summary.ranks.rank != 0 {
        println!(
            "rank {}/{} done: {} shard-phases run in {:.1}s; rank 0 writes the stats",
            summary.ranks.rank, summary.ranks.world, summary.shards_processed, summary.wall_seconds
        );
        return Ok(());
    }
    let s = &summary.stats;
    println!(
        "{} {}: {} shards ({} shard-phases run now) in {:.1}s; read {} records, quarantined {}, rejected {}, kept {} docs",
        if summary.already_complete { "already complete" } else { "run complete" },
        summary.out_dir.display(),
        s.shards,
        summary.shards_processed,
        summary.wall_seconds,
        s.input_records,
        s.quarantined,
        s.rejected,
        s.output.docs,
    );
    let layout = pipeline::OutputLayout::new(&summary.out_dir);
    if layout.manifest().exists() {
        println!(
            "token shards: {}  manifest: {}",
            layout.shards_dir().display(),
            layout.manifest().display()
        );
    }
    println!(
        "curated: {}  rejected: {}  stats: {}",
        layout.curated_dir().display(),
        layout.rejected_dir().display(),
        layout.stats().display()
    );
    Ok(())
}

/// The pipelines the demos run, embedded (`pipelines/SET.toml`).
const DEFAULT_PIPELINE: &str = include_str!("../pipelines/default.toml");
const WEB_PIPELINE: &str = include_str!("../pipelines/web.toml");

/// The demos' directory `out`, created, as an absolute path.
fn demo_dir(out: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    out.canonicalize()
        .with_context(|| format!("resolving {}", out.display()))
}

/// `embedded` (the checkout's `pipelines/SET.toml`) with its data, output and tokenizer
/// paths made relative to the demo's `out`, written to `out/NAME` (only when it differs, so
/// a rerun finds its run's config unchanged). Returns that path.
fn write_demo_pipeline(out: &Path, name: &str, set: &str, embedded: &str) -> Result<PathBuf> {
    let text = embedded
        .replace(&format!("../datasets/data/{set}/"), &format!("data/{set}/"))
        .replace(
            &format!("dir = \"../out/{set}\""),
            &format!("dir = \"{set}\""),
        )
        .replace(
            "tokenizer = \"../out/tokenizer.json\"",
            "tokenizer = \"tokenizer.json\"",
        );
    let path = out.join(name);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(path)
}

/// `sluice demo --pipeline web`: the bundled WARC of real pages through url_filter,
/// html_extract, clean, language, length, dedup and tokenize, under `out`; nothing is read
/// from the checkout.
fn demo_web(workers: Option<usize>, out: &Path) -> Result<()> {
    let out = demo_dir(out)?;
    datasets::unpack_web(&out.join("data")).context("unpacking the web sample")?;
    let data = datasets::unpack_default(&out.join("data")).context("unpacking the corpus")?;
    demo_tokenizer(&out, data)?;
    let pipeline = write_demo_pipeline(&out, "web.toml", "web", WEB_PIPELINE)?;
    println!("== curate: {} (the web pipeline)", pipeline.display());
    run(pipeline, workers, None, Default::default())?;
    print!(
        "{}",
        inspect::summarise(&out.join("web")).context("inspect")?
    );
    Ok(())
}

/// The demos' tokenizer, `out/tokenizer.json`: a byte-level BPE trained on the bundled
/// corpus (`data`) unless one is already there.
fn demo_tokenizer(out: &Path, data: PathBuf) -> Result<()> {
    let tok = out.join("tokenizer.json");
    if tok.exists() {
        return Ok(());
    }
    println!("== tokenizer: training a byte-level BPE (8000 tokens) on the bundled corpus");
    tokenizer_train(TokenizerCommand::Train {
        input: vec![data],
        vocab_size: 8000,
        out: tok,
        special: vec!["<|endoftext|>".into(), "<|pad|>".into()],
        text_field: "text".into(),
    })
}

/// Everything under `out` (default `./out`): nothing is read from the checkout the binary
/// was built in, so an installed or copied `sluice` runs it anywhere.
fn demo(steps: u64, workers: Option<usize>, out: &Path) -> Result<()> {
    // Say so before curating rather than after: the demo ends in training.
    train_cmd::available().context("demo")?;
    let out = demo_dir(out)?;
    let data = datasets::unpack_default(&out.join("data")).context("unpacking the corpus")?;
    demo_tokenizer(&out, data)?;
    let pipeline = write_demo_pipeline(&out, "pipeline.toml", "default", DEFAULT_PIPELINE)?;
    println!(
        "== curate + tokenize: {} (the default pipeline)",
        pipeline.display()
    );
    run(pipeline, workers, None, Default::default())?;
    let curated = out.join("default");
    print!("{}", inspect::summarise(&curated).context("inspect")?);
    println!("== train: tiny GPT, {steps} steps, exp3 loss-weighted mixing");
    let cfg = out.join("demo-train.toml");
    std::fs::write(
        &cfg,
        format!(
            "# written by `sluice demo`\n[data]\nmanifest = \"default/manifest.json\"\nval_fraction = 0.05\n\
             [model]\npreset = \"tiny\"\n[optim]\nlr = 0.003\nwarmup_steps = 20\nmax_steps = {steps}\nbatch_size = 16\n\
             [eval]\nevery = 50\nrows_per_domain = 16\n[mixing]\nrule = \"exp3\"\nupdate_every = 10\neta = 1.0\nmin_weight = 0.02\n\
             [run]\nout_dir = \"demo-train\"\ncheckpoint_every = 100\n"
        ),
    )
    .with_context(|| format!("writing {}", cfg.display()))?;
    train_cmd::train(&cfg, None)?;
    query_cmd::demo_report(&curated, &out.join("demo-train"), &out.join("report.html"))?;
    println!(
        "outputs: curated {}, token shards {}, model and logs {}",
        curated.join("curated").display(),
        curated.join("shards").display(),
        out.join("demo-train").display()
    );
    Ok(())
}

/// The error and its causes on one line, leaving out causes the message already quotes.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if !msg.contains(&c) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&c);
        }
    }
    msg.replace('\n', " ")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Run {
            config,
            workers,
            out,
            slurm: true,
            tasks,
            partition,
            sbatch,
            ..
        } => cluster::submit(
            &config,
            out.map(PathBuf::from),
            workers,
            cluster::SlurmArgs {
                tasks: tasks.unwrap_or(1),
                partition,
                sbatch,
            },
        ),
        Command::Run {
            config,
            workers,
            out,
            rank,
            world,
            ..
        } => ranks(rank, world).and_then(|r| run(config, workers, out, r)),
        Command::Task {
            config,
            out,
            workers,
            step,
            phase,
            rank,
            world,
        } => pipeline::Ranks::new(rank, world)
            .map_err(anyhow::Error::msg)
            .and_then(|ranks| {
                cluster::task(cluster::TaskArgs {
                    config,
                    out,
                    workers,
                    step,
                    phase,
                    ranks,
                })
            }),
        Command::Inspect { dir } => local_view(&dir)
            .and_then(|d| inspect::summarise(&d))
            .with_context(|| format!("inspect {}", dir.display()))
            .map(|s| print!("{s}")),
        Command::Report(args) => query_cmd::report(&args),
        Command::Query(args) => query_cmd::query(&args),
        Command::Sample(args) => query_cmd::sample(&args),
        Command::Stages => {
            print!("{}", stages_table(&registry()));
            Ok(())
        }
        Command::MinhashParams {
            threshold,
            num_perm,
        } => {
            let c = dedup::MinHashConfig {
                threshold,
                num_perm,
                ..Default::default()
            };
            match c.params() {
                Err(e) => Err(anyhow::anyhow!("minhash-params: {e}")),
                Ok(p) => {
                    println!("threshold {threshold}: {}", p.describe());
                    println!("similarity  P(candidate)");
                    for s in [0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95] {
                        let pr = dedup::minhash::catch_probability(s, p.bands, p.rows);
                        println!(
                            "{s:>10.2}  {pr:.3}  {}",
                            "#".repeat((pr * 40.0).round() as usize)
                        );
                    }
                    Ok(())
                }
            }
        }
        Command::Tokenizer { command } => tokenizer_train(command),
        Command::Decont { command } => decont_cmd::run(command),
        Command::Index { command } => index_cmd::run(command),
        Command::Export(a) => export_cmd::run(a),
        Command::Train { config, stop_after } => train_cmd::train(&config, stop_after),
        Command::Demo {
            pipeline,
            steps,
            workers,
            out,
        } => match pipeline.as_str() {
            "web" => demo_web(workers, &out),
            _ => demo(steps, workers, &out),
        },
        Command::Classifier { command } => classifier_train(command),
        Command::Datasets { command } => datasets_cmd::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}
