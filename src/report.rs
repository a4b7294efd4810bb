//! `sluice report`: one self-contained HTML page (inline SVG, no scripts) for a run: the
//! per-stage funnel, reject reasons with example documents, kept documents' lengths per
//! domain (both computed with polars, `query::profile`), tokens per domain, and, for a
//! training dir, the loss curves and the mixture weights over steps.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokenize::Manifest;

/// A line of a training dir's `log.jsonl`: a training step's loss, or an evaluation.
#[derive(Deserialize)]
struct LogLine {
    step: u64,
    loss: Option<f64>,
    /// Validation loss per domain and `_all`; null where a domain had no rows.
    eval: Option<BTreeMap<String, Option<f64>>>,
}

/// A line of `weights.jsonl` (written by the trainer's `WeightsUpdate`; only the fields the
/// report draws, so the report builds without the trainer).
#[derive(Deserialize)]
struct WeightsLine {
    step: u64,
    weights: Vec<f64>,
}

/// The part of a checkpoint's `state.json` the report needs: the domains' names.
#[derive(Deserialize)]
struct CheckpointState {
    sampler: SamplerNames,
}

#[derive(Deserialize)]
struct SamplerNames {
    names: Vec<String>,
}

/// Line colours: Tableau 10, then darker shades from tab20b and tab20c. Series past the
/// palette reuse it with a dash pattern, so no two series of a chart look the same.
const COLORS: [&str; 20] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173",
    "#3182bd", "#e6550d", "#31a354", "#756bb1",
];
const DASHES: [&str; 3] = ["", "6 3", "2 2"];

/// Colour and dash pattern of a chart's `k`-th series.
fn style(k: usize) -> (&'static str, &'static str) {
    (
        COLORS[k % COLORS.len()],
        DASHES[(k / COLORS.len()) % DASHES.len()],
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn read_json<T: DeserializeOwned>(p: &Path) -> Result<T> {
    let t = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&t).with_context(|| format!("parsing {}", p.display()))
}

fn read_jsonl<T: DeserializeOwned>(p: &Path) -> Result<Vec<T>> {
    let t = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    t.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("{}: line {}", p.display(), i + 1))
        })
        .collect()
}

/// Horizontal bars: (label, value, note).
fn bars(rows: &[(String, f64, String)]) -> String {
    let max = rows.iter().map(|r| r.1).fold(1.0, f64::max);
    let h = 22 * rows.len() + 10;
    let mut s = format!("<svg width='760' height='{h}' role='img'>");
    for (i, (label, v, note)) in rows.iter().enumerate() {
        let y = 5 + 22 * i;
        let w = (v / max * 420.0).max(1.0);
        let _ = write!(
            s,
            "<text x='180' y='{}' text-anchor='end' font-size='13'>{}</text>\
             <rect x='190' y='{y}' width='{w:.1}' height='16' fill='#4c78a8'/>\
             <text x='{:.1}' y='{}' font-size='12'>{}</text>",
            y + 13,
            esc(label),
            195.0 + w,
            y + 13,
            esc(note)
        );
    }
    s + "</svg>"
}

/// Line chart of several series of (x, y).
fn lines(series: &[(String, Vec<(f64, f64)>)], y_label: &str) -> String {
    let pts: Vec<&(f64, f64)> = series.iter().flat_map(|s| s.1.iter()).collect();
    if pts.is_empty() {
        return "<p>(no data)</p>".into();
    }
    let (x0, x1) = pts
        .iter()
        .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
    let (y0, y1) = pts
        .iter()
        .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.1), a.1.max(p.1)));
    let (x1, y1) = (
        if x1 > x0 { x1 } else { x0 + 1.0 },
        if y1 > y0 { y1 } else { y0 + 1.0 },
    );
    let (w, h, l, t) = (600.0, 260.0, 60.0, 10.0);
    let sx = |x: f64| l + (x - x0) / (x1 - x0) * w;
    let sy = |y: f64| t + h - (y - y0) / (y1 - y0) * h;
    let legend = t + 16.0 * series.len() as f64 + 10.0;
    let mut s = format!(
        "<svg width='860' height='{}' role='img'>",
        (h + 50.0).max(legend)
    );
    let _ = write!(
        s,
        "<rect x='{l}' y='{t}' width='{w}' height='{h}' fill='none' stroke='#999'/>\
         <text x='{}' y='{}' text-anchor='end' font-size='12'>{y1:.3}</text>\
         <text x='{}' y='{}' text-anchor='end' font-size='12'>{y0:.3}</text>\
         <text x='{}' y='{}' font-size='12'>step {x0:.0} … {x1:.0}</text>\
         <text x='5' y='{}' font-size='12'>{}</text>",
        l - 4.0,
        t + 9.0,
        l - 4.0,
        t + h,
        l + w / 2.0 - 40.0,
        t + h + 18.0,
        t + h / 2.0,
        esc(y_label)
    );
    for (k, (name, p)) in series.iter().enumerate() {
        let (c, dash) = style(k);
        let d: Vec<String> = p
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let y = t + 5.0 + 16.0 * k as f64; // legend row: swatch line, label baseline below it
        let _ = write!(
            s,
            "<polyline fill='none' stroke='{c}' stroke-width='1.6' stroke-dasharray='{dash}' points='{}'/>\
             <line x1='{}' y1='{y}' x2='{}' y2='{y}' stroke='{c}' stroke-width='3' stroke-dasharray='{dash}'/>\
             <text x='{}' y='{}' font-size='12'>{}</text>",
            d.join(" "),
            l + w + 10.0,
            l + w + 30.0,
            l + w + 35.0,
            y + 4.0,
            esc(name)
        );
    }
    s + "</svg>"
}

pub fn write_report(run: &Path, train: Option<&Path>, out: &Path) -> Result<()> {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset='utf-8'><title>sluice run report</title>\
         <style>body{font-family:sans-serif;margin:24px;max-width:960px}h2{margin-top:28px}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}\
         td.n{text-align:right}</style></head><body>",
    );
    let _ = write!(
        html,
        "<h1>sluice run report</h1><p>run: <code>{}</code></p>",
        esc(&run.display().to_string())
    );
    let tables = query::RunTables::open(run)?;
    let stats = &tables.stats;
    let _ = write!(
        html,
        "<p>{} records read, {} quarantined, {} rejected, {} kept.</p><h2>Documents after each stage</h2>",
        stats.input_records, stats.quarantined, stats.rejected, stats.output.docs
    );
    let funnel: Vec<(String, f64, String)> = (stats.stages.iter())
        .map(|s| {
            let (out, rej) = (s.docs_out, s.rejected());
            (s.name.clone(), out as f64, format!("{out} (−{rej})"))
        })
        .collect();
    html += &bars(&funnel);
    html +=
        "<h2>Reject reasons</h2><table><tr><th>stage</th><th>reason</th><th>documents</th></tr>";
    for s in &stats.stages {
        for (k, v) in &s.rejects {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td class='n'>{v}</td></tr>",
                esc(&s.name),
                esc(k),
            );
        }
    }
    html += "</table>";
    html += &examples_section(&tables)?;
    html += &lengths_section(&tables)?;
    let manifest = pipeline::OutputLayout::new(run).manifest();
    if manifest.exists() {
        let m = Manifest::read(&manifest)?;
        let mut rows: Vec<(String, f64, String)> = (m.domains.iter())
            .map(|(k, d)| {
                let label = format!("{} tokens, {} docs", d.tokens, d.docs);
                (k.clone(), d.tokens as f64, label)
            })
            .collect();
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        let _ = write!(html, "<h2>Tokens per domain (seq_len {})</h2>", m.seq_len);
        html += &bars(&rows);
    }
    if let Some(tr) = train {
        html += &training_section(tr)?;
    }
    html += "</body></html>\n";
    pipeline::durable::write_atomic(out, html.as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// Two rejected documents per reason (picked by seed 0), with detail and a text excerpt.
fn examples_section(tables: &query::RunTables) -> Result<String> {
    let examples = query::profile::examples_by_reason(tables, 2, 240)?;
    if examples.is_empty() {
        return Ok(String::new());
    }
    let mut html = String::from(
        "<h2>Examples per reject reason</h2><p>Two per reason, the same on every report \
         (<code>sluice sample OUT --reason R</code> shows more).</p><table>\
         <tr><th>reason</th><th>document</th><th>detail</th><th>text</th></tr>",
    );
    for (reason, docs) in &examples {
        for d in docs {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}<br>{} chars</td><td>{}</td><td><pre style='white-space:pre-wrap;margin:0'>{}</pre></td></tr>",
                esc(reason),
                esc(&d.id),
                d.chars,
                esc(&d.detail),
                esc(&d.excerpt)
            );
        }
    }
    Ok(html + "</table>")
}

/// Kept documents' lengths per domain: a table of quantiles and a box plot (log scale).
fn lengths_section(tables: &query::RunTables) -> Result<String> {
    let rows = query::profile::length_by_domain(tables)?;
    if rows.is_empty() {
        return Ok(String::new());
    }
    let mut html = String::from(
        "<h2>Kept document length per domain (characters)</h2><table><tr><th>domain</th>\
         <th>docs</th><th>min</th><th>p10</th><th>p25</th><th>median</th><th>p75</th>\
         <th>p90</th><th>max</th></tr>",
    );
    for r in &rows {
        let _ = write!(html, "<tr><td>{}</td>", esc(&r.domain));
        for v in [r.docs, r.min, r.p10, r.p25, r.p50, r.p75, r.p90, r.max] {
            let _ = write!(html, "<td class='n'>{v}</td>");
        }
        html += "</tr>";
    }
    html += "</table>";
    Ok(html + &boxes(&rows))
}

/// One box per domain on a log axis: whiskers p10..p90, box p25..p75, a bar at the median.
fn boxes(rows: &[query::profile::DomainLengths]) -> String {
    let top = rows.iter().map(|r| r.max.max(10)).max().unwrap_or(10) as f64;
    let x = |v: u64| 190.0 + (v.max(1) as f64).log10() / top.log10() * 520.0;
    let h = 22 * rows.len() + 30;
    let mut s = format!("<svg width='760' height='{h}' role='img'>");
    for (i, r) in rows.iter().enumerate() {
        let y = 5 + 22 * i;
        let _ = write!(
            s,
            "<text x='180' y='{}' text-anchor='end' font-size='13'>{}</text>\
             <line x1='{:.1}' y1='{}' x2='{:.1}' y2='{}' stroke='#4c78a8'/>\
             <rect x='{:.1}' y='{y}' width='{:.1}' height='16' fill='#a6c8e8' stroke='#4c78a8'/>\
             <line x1='{:.1}' y1='{y}' x2='{:.1}' y2='{}' stroke='#1b3a5c' stroke-width='2'/>",
            y + 13,
            esc(&r.domain),
            x(r.p10),
            y + 8,
            x(r.p90),
            y + 8,
            x(r.p25),
            (x(r.p75) - x(r.p25)).max(1.0),
            x(r.p50),
            x(r.p50),
            y + 16
        );
    }
    let axis_y = 22 * rows.len() + 20;
    let mut tick = 1u64;
    while (tick as f64) <= top {
        let _ = write!(
            s,
            "<text x='{:.1}' y='{axis_y}' font-size='11' text-anchor='middle'>{tick}</text>",
            x(tick)
        );
        tick *= 10;
    }
    s + "</svg>"
}

/// The loss curves and the mixture weights of a training dir.
fn training_section(tr: &Path) -> Result<String> {
    let log: Vec<LogLine> = read_jsonl(&tr.join("log.jsonl"))?;
    let train_loss: Vec<(f64, f64)> = (log.iter())
        .filter_map(|v| Some((v.step as f64, v.loss?)))
        .collect();
    let mut series = vec![("train loss".to_string(), train_loss)];
    let evals: Vec<(u64, &BTreeMap<String, Option<f64>>)> = log
        .iter()
        .filter_map(|v| Some((v.step, v.eval.as_ref()?)))
        .collect();
    let mut names: Vec<&String> = evals.iter().flat_map(|(_, e)| e.keys()).collect();
    names.sort();
    names.dedup();
    for n in names {
        let p: Vec<(f64, f64)> = (evals.iter())
            .filter_map(|(step, e)| Some((*step as f64, (*e.get(n)?)?)))
            .collect();
        series.push((format!("val {n}"), p));
    }
    let mut html = format!(
        "<h2>Training loss</h2><p>train dir: <code>{}</code></p>",
        esc(&tr.display().to_string())
    );
    html += &lines(&series, "loss");
    let weights: Vec<WeightsLine> = read_jsonl(&tr.join("weights.jsonl"))?;
    let state: Option<CheckpointState> = read_json(&tr.join("ckpt-latest/state.json")).ok();
    let dnames = state.map(|s| s.sampler.names).unwrap_or_default();
    let k = weights.first().map_or(0, |w| w.weights.len());
    let last_step = log.iter().map(|v| v.step + 1).max().unwrap_or(1) as f64;
    let mut ws: Vec<(String, Vec<(f64, f64)>)> = (0..k)
        .map(|i| {
            let name = dnames.get(i).cloned().unwrap_or(format!("domain {i}"));
            (name, vec![])
        })
        .collect();
    for (j, w) in weights.iter().enumerate() {
        let next = weights.get(j + 1).map_or(last_step, |n| n.step as f64);
        for (s, v) in ws.iter_mut().zip(&w.weights) {
            s.1.push((w.step as f64, *v));
            s.1.push((next, *v));
        }
    }
    let updates = weights.len().saturating_sub(1);
    let _ = write!(html, "<h2>Mixture weights ({updates} updates)</h2>");
    html += &lines(&ws, "weight");
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_of_a_chart_has_its_own_look() {
        // 13 series is the demo's loss chart (train, all, 11 domains); 60 fills every
        // colour and dash combination.
        for n in [13, 60] {
            let mut seen: Vec<(&str, &str)> = (0..n).map(style).collect();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), n);
        }
    }

    #[test]
    fn the_legend_fits_inside_the_chart() {
        let series: Vec<(String, Vec<(f64, f64)>)> = (0..30)
            .map(|i| (format!("d{i}"), vec![(0.0, i as f64), (1.0, 1.0)]))
            .collect();
        let svg = lines(&series, "loss");
        let height: f64 = svg
            .split("height='")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(height >= 10.0 + 16.0 * 30.0, "{height}");
        assert_eq!(svg.matches("<polyline").count(), 30);
        assert!(svg.contains(">d29</text>"));
    }
}
