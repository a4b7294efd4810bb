#!/usr/bin/env python3
"""PII precision and recall on real technical text, sluice's `pii` stage next to datatrove's
PIIFormatter (e-mails and public IPv4), on the fetched corpora linux-docs, python-stdlib,
bbc-news and spdx-licenses (`sluice datasets fetch ...`).

Every span either tool finds is pooled; a seeded sample of up to --per-group spans per tool
and kind is labelled by hand in benches/data/pii_labels.tsv (doc, start, end, span, label,
note; label 1 = personal data of that kind, 0 = not). Precision = true spans / labelled spans
of that tool and kind; recall is pooled: the share of all spans labelled true (whoever found
them) that the tool finds. Spans not labelled yet are written to --todo for labelling.
    python3 benches/pii_precision.py --spans target/release/examples/pii_spans [--json F]
"""
import argparse, collections, csv, gzip, json, os, random, re, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit  # noqa: E402

CORPORA = ["linux-docs", "python-stdlib", "bbc-news", "spdx-licenses"]
KIND = {"email": "email", "ipv4": "ip", "ipv6": "ip", "phone": "phone", "phone_cn": "phone",
        "credit_card": "card", "id_cn": "id_cn"}
HERE = os.path.dirname(os.path.abspath(__file__))


def load_docs(cache):
    docs = {}
    for name in CORPORA:
        path = os.path.join(cache, "corpora", name, "docs.jsonl.gz")
        for line in gzip.open(path, "rt", encoding="utf-8"):
            d = json.loads(line)
            docs[f"{name}:{d['id']}"] = d["text"]
    return docs


def sluice_spans(binary, docs):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for k, t in docs.items():
            f.write(json.dumps({"id": k, "text": t}) + "\n")
    t0 = time.perf_counter()
    out = subprocess.run([binary, f.name], capture_output=True, text=True, check=True).stdout
    secs = time.perf_counter() - t0
    os.unlink(f.name)
    spans = set()
    for line in out.splitlines():
        s = json.loads(line)
        spans.add((s["doc"], s["start"], s["end"], KIND[s["kind"]]))
    return spans, secs


def datatrove_spans(docs):
    try:
        from datatrove.pipeline.formatters.pii import PIIFormatter
    except ImportError:
        return None, None
    f = PIIFormatter()
    spans = set()
    t0 = time.perf_counter()
    for k, t in docs.items():
        for m in f.emails_replacer.regex.finditer(t):
            spans.add((k, m.start(), m.end(), "email"))
        for m in f.ip_replacer.regex.finditer(t):
            if f.ip_replacer.validator(m.group(0)):
                spans.add((k, m.start(), m.end(), "ip"))
    return spans, time.perf_counter() - t0


def load_labels(path):
    labels = {}
    if os.path.exists(path):
        for row in csv.DictReader(open(path, encoding="utf-8"), delimiter="\t"):
            labels[(row["doc"], int(row["start"]), int(row["end"]))] = int(row["label"])
    return labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", required=True, help="the pii_spans example binary")
    ap.add_argument("--cache", default=os.environ.get("SLUICE_CACHE", os.path.expanduser("~/.cache/sluice")))
    ap.add_argument("--labels", default=os.path.join(HERE, "data", "pii_labels.tsv"))
    ap.add_argument("--per-group", type=int, default=40)
    ap.add_argument("--todo", default="out/bench/pii_todo.tsv")
    ap.add_argument("--json")
    a = ap.parse_args()
    docs = load_docs(a.cache)
    tools = {}
    tools["sluice"], s_secs = sluice_spans(a.spans, docs)
    dt, dt_secs = datatrove_spans(docs)
    if dt is not None:
        tools["datatrove"] = dt
    rng = random.Random(0)
    sample = set()
    for name, spans in tools.items():
        by_kind = collections.defaultdict(list)
        for s in sorted(spans):
            by_kind[s[3]].append(s)
        for kind, group in by_kind.items():
            sample.update(rng.sample(group, min(a.per_group, len(group))))
    labels = load_labels(a.labels)
    todo = [s for s in sorted(sample) if s[:3] not in labels]
    if todo:
        os.makedirs(os.path.dirname(a.todo), exist_ok=True)
        with open(a.todo, "w", encoding="utf-8") as f:
            f.write("doc\tstart\tend\tkind\tspan\tcontext\n")
            for d, st, en, kind in todo:
                t = docs[d]
                ctx = (t[max(0, st - 60):st] + "[[" + t[st:en] + "]]" + t[en:en + 40]).replace("\n", " | ").replace("\t", " ")
                f.write(f"{d}\t{st}\t{en}\t{kind}\t{t[st:en]}\t{ctx}\n")
        print(f"{len(todo)} sampled spans are not labelled yet: {a.todo}", file=sys.stderr)
    true_pool = {k for k, v in labels.items() if v == 1}
    print("| tool | kind | found | labelled | precision | pooled recall |")
    print("|---|---|---:|---:|---:|---:|")
    rows = []
    for name, spans in tools.items():
        for kind in sorted({s[3] for s in spans} | {"email", "ip"}):
            found = {s[:3] for s in spans if s[3] == kind}
            lab = [labels[s] for s in found if s in labels and s in {x[:3] for x in sample}]
            truth = {s for s in true_pool if any(x[:3] == s and x[3] == kind for x in sample)}
            prec = sum(lab) / len(lab) if lab else float("nan")
            rec = len(truth & found) / len(truth) if truth else float("nan")
            print(f"| {name} | {kind} | {len(found)} | {len(lab)} | {prec:.1%} | {rec:.1%} |")
            rows.append((name, kind, len(found), len(lab), prec, rec))
    if a.json:
        out = []
        for tool, secs in (("sluice pii", s_secs), ("datatrove PIIFormatter", dt_secs)):
            if secs is None:
                continue
            short = "sluice" if tool.startswith("sluice") else "datatrove"
            q = ", ".join(f"{k} P {p:.0%} R {r:.0%}" for n, k, _, _, p, r in rows if n == short and k in ("email", "ip"))
            out.append({"bench": f"PII on {len(docs)} real technical docs", "tool": tool, "seconds": secs,
                        "quality": q, "note": "sluice also finds phones, cards, CN ids" if short == "sluice" else "e-mail and IPv4 only"})
        emit(a.json, out)


if __name__ == "__main__":
    main()
