//! `sluice inspect OUT`: a plain-text summary of a run (per-stage funnel and reject reasons)
//! and, where a token manifest exists, tokens per domain.

use std::fmt::Write;
use std::path::Path;

use anyhow::{bail, Result};
use pipeline::{OutputLayout, RunStats};
use tokenize::Manifest;

/// Summarises the run or shard set in `dir`.
pub fn summarise(dir: &Path) -> Result<String> {
    let layout = OutputLayout::new(dir);
    let stats_path = layout.stats();
    let manifest_path = layout.manifest();
    let mut s = String::new();
    if stats_path.exists() {
        write_stats(&mut s, &RunStats::read(&stats_path)?);
    } else if layout.run_file().exists() {
        writeln!(
            s,
            "{}: run not complete yet; shards done per phase:",
            dir.display()
        )
        .unwrap();
        let mut phase = 0;
        while let Ok(rd) = std::fs::read_dir(layout.phase_dir(phase)) {
            let done = rd
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("done-"))
                .count();
            writeln!(s, "  phase {phase}: {done} shards done").unwrap();
            phase += 1;
        }
    }
    if manifest_path.exists() {
        let m = Manifest::read(&manifest_path)?;
        writeln!(s, "tokens per domain:").unwrap();
        for (name, d) in &m.domains {
            let (tokens, rows) = (d.tokens, d.rows);
            writeln!(s, "  {name:<20} {tokens:>14} tokens {rows:>10} rows").unwrap();
        }
    }
    if s.is_empty() {
        bail!(
            "{}: holds neither stats.json nor manifest.json; is it a sluice output dir?",
            dir.display()
        );
    }
    Ok(s)
}

fn write_stats(s: &mut String, st: &RunStats) {
    writeln!(
        s,
        "shards {}  records read {}  quarantined {}  rejected {}  kept {} docs ({} bytes)",
        st.shards, st.input_records, st.quarantined, st.rejected, st.output.docs, st.output.bytes
    )
    .unwrap();
    writeln!(
        s,
        "{:<24} {:>12} {:>12} {:>12} {:>9}",
        "stage", "docs in", "docs out", "rejected", "cpu s"
    )
    .unwrap();
    for stage in &st.stages {
        writeln!(
            s,
            "{:<24} {:>12} {:>12} {:>12} {:>9.2}",
            stage.name,
            stage.docs_in,
            stage.docs_out,
            stage.rejected(),
            stage.seconds
        )
        .unwrap();
        let mut reasons: Vec<_> = stage.rejects.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (r, n) in reasons {
            writeln!(s, "    {r:<36} {n:>10}").unwrap();
        }
        for (k, n) in &stage.counters {
            writeln!(s, "    counter {k:<28} {n:>10}").unwrap();
        }
    }
}
