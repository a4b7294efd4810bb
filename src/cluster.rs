//! Cluster entry points of the CLI: `sluice task` (one step of one phase for one rank, run by a
//! scheduler's job) and `sluice run --slurm` (submits a run's unfinished steps as Slurm job
//! arrays chained with `afterok`, so no job waits on a job that has not started).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use pipeline::{Executor, LoadedPipeline, Ranks, RunOptions, Step};

/// `sluice task`: one step of one phase for one rank.
pub struct TaskArgs {
    pub config: PathBuf,
    pub out: Option<PathBuf>,
    pub workers: Option<usize>,
    pub step: Step,
    pub phase: usize,
    pub ranks: Ranks,
}

pub fn task(a: TaskArgs) -> Result<()> {
    let loaded = LoadedPipeline::load(&a.config, &crate::registry())?;
    let exec = Executor::new(
        &loaded,
        &RunOptions {
            workers: a.workers,
            out_dir: a.out,
            ranks: a.ranks,
        },
    )?;
    let n = exec.run_step(a.step, a.phase)?;
    println!(
        "{} of phase {} done on rank {}/{}: {n} task(s) run",
        a.step.name(),
        a.phase,
        a.ranks.rank,
        a.ranks.world
    );
    Ok(())
}

/// `sluice run --slurm`.
pub struct SlurmArgs {
    pub tasks: usize,
    pub partition: Option<String>,
    /// Extra `sbatch` arguments (`--time=4:00:00`, `--mem=8G`, ...).
    pub sbatch: Vec<String>,
}

/// Submits what is left of the run: per phase an array of shard tasks, then an array of
/// resolve pieces and a resolve job if the phase ends at a barrier, and a finish job, each
/// depending on the one before with `afterok`. Arrays hold only the ranks with unfinished
/// tasks, so a rerun after a failure submits just those. Prints the last job's id.
pub fn submit(
    config: &Path,
    out: Option<PathBuf>,
    workers: Option<usize>,
    s: SlurmArgs,
) -> Result<()> {
    let ranks = Ranks::new(0, s.tasks).map_err(anyhow::Error::msg)?;
    let loaded = LoadedPipeline::load(config, &crate::registry())?;
    let opts = RunOptions {
        workers,
        out_dir: out,
        ranks,
    };
    let exec = Executor::new(&loaded, &opts)?;
    exec.claim()?;
    if exec.is_complete() {
        println!("already complete: {}", exec.out_dir().display());
        return Ok(());
    }
    let logs = exec.layout().slurm_logs();
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let exe = std::env::current_exe().context("finding the sluice executable")?;
    let config = std::fs::canonicalize(config)?;
    let out = std::fs::canonicalize(exec.out_dir())?;
    let mut dep: Option<String> = None;
    let last = exec.phase_count() - 1;
    for phase in 0..=last {
        let mut steps = vec![Step::Shards];
        if exec.has_barrier(phase) {
            steps.extend([Step::ResolveParts, Step::Resolve]);
        }
        if phase == last {
            steps.push(Step::Finish);
        }
        for step in steps {
            let ranks = exec.ranks_with_work(step, phase);
            if ranks.is_empty() {
                continue;
            }
            let mut cmd = format!(
                "exec {} task {} --out {} --step {} --phase {phase} --world {}",
                quote(&exe),
                quote(&config),
                quote(&out),
                step.name(),
                s.tasks
            );
            if let Some(w) = workers {
                cmd.push_str(&format!(" --workers {w}"));
            }
            let array = matches!(step, Step::Shards | Step::ResolveParts);
            cmd.push_str(match array {
                true => " --rank $SLURM_ARRAY_TASK_ID",
                false => " --rank 0",
            });
            let name = format!("sluice-p{phase}-{}", step.name());
            let id = sbatch(
                &s,
                &name,
                &logs,
                array.then_some(&ranks[..]),
                dep.as_deref(),
                &cmd,
            )?;
            println!("submitted {name} as job {id} (ranks {ranks:?})");
            dep = Some(id);
        }
    }
    if let Some(id) = dep {
        println!("last job: {id} (the run is complete when it is; rerun this command to resubmit what failed)");
    }
    Ok(())
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// Submits one job (or array over `ranks`) that runs `cmd`; returns its id.
fn sbatch(
    s: &SlurmArgs,
    name: &str,
    logs: &Path,
    ranks: Option<&[usize]>,
    dep: Option<&str>,
    cmd: &str,
) -> Result<String> {
    let mut c = Command::new("sbatch");
    c.arg("--parsable")
        .arg(format!("--job-name={name}"))
        .arg(format!("--output={}/%x-%A_%a.log", logs.display()))
        .arg("--kill-on-invalid-dep=yes");
    if let Some(r) = ranks {
        let list: Vec<String> = r.iter().map(usize::to_string).collect();
        c.arg(format!("--array={}", list.join(",")));
    }
    if let Some(d) = dep {
        c.arg(format!("--dependency=afterok:{d}"));
    }
    if let Some(p) = &s.partition {
        c.arg(format!("--partition={p}"));
    }
    c.args(&s.sbatch).arg("--wrap").arg(cmd);
    let o = c
        .output()
        .context("running sbatch (is Slurm installed here?)")?;
    if !o.status.success() {
        bail!(
            "sbatch failed for {name}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    // `--parsable` prints `id` or `id;cluster`.
    Ok(id.split(';').next().unwrap_or_default().to_string())
}
