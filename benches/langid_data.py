#!/usr/bin/env python3
"""Builds the labelled language-ID set from real text: the bundled fortunes (en) and Tang
poems (zh), and the fetchable corpora (`sluice datasets fetch bbc-news shakespeare linux-docs
chinese-poetry fortunes-zh`): BBC paragraphs and sentences (en), Shakespeare's lines (en), the
kernel docs' English prose paragraphs (en) and their zh_CN/zh_TW lines (zh, most carrying ASCII
names: `mixed`), it_IT/sp_SP/ja_JP/ko_KR prose (it, es, ja, ko), classical poems and fortunes
in Chinese (zh). Labels come from where the text comes from; a unit is a whole document, a
paragraph or a line, bucketed by length in characters.
    python3 benches/langid_data.py OUT.jsonl [--per-group N] [--cache DIR]
Writes {"text", "lang", "source", "bucket", "mixed"} lines; prints the counts per group.
"""
import argparse, collections, gzip, json, os, random, re, sys

BUCKETS = [(0, 30, "<30"), (30, 100, "30-99"), (100, 500, "100-499"), (500, 10**9, "500+")]
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
ASCII_WORD = re.compile(r"[A-Za-z]{2,}")


def bucket(text):
    n = len(text)
    return next(name for lo, hi, name in BUCKETS if lo <= n < hi)


def docs(path, domain=None):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if domain is None or d.get("domain") == domain:
                yield d


def prose(par):
    """A paragraph of running text: mostly letters, no code-block indentation or markup."""
    if len(par.split()) < 4 or par.startswith(("    ", "\t", "..", "::", "|", "+", "=", "-", "*")):
        return False
    letters = sum(c.isalpha() or c.isspace() for c in par)
    return letters / len(par) > 0.85


def paragraphs(text):
    for p in re.split(r"\n\s*\n", text):
        p = " ".join(p.split())
        if p:
            yield p


def sentences(text):
    for p in paragraphs(text):
        for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", p):
            if s:
                yield s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--per-group", type=int, default=1500)
    ap.add_argument("--cache", default=os.environ.get("SLUICE_CACHE", os.path.expanduser("~/.cache/sluice")))
    a = ap.parse_args()
    corp = lambda name: os.path.join(a.cache, "corpora", name, "docs.jsonl.gz")
    here = os.path.dirname(os.path.abspath(__file__))
    bundled = os.path.join(here, "..", "datasets", "data", "default")
    units = collections.defaultdict(list)  # (source, lang, bucket, mixed) -> texts

    def add(source, lang, text, mixed=False):
        text = text.strip()
        if text:
            units[(source, lang, bucket(text), mixed)].append(text)

    for d in docs(os.path.join(bundled, "fortunes.jsonl.gz")):
        add("fortunes", "en", d["text"])
    for d in docs(corp("bbc-news")):
        for p in paragraphs(d["text"]):
            add("bbc-news", "en", p)
        for s in sentences(d["text"]):
            add("bbc-news", "en", s)
    for d in docs(corp("shakespeare")):
        for line in d["text"].splitlines():
            # Speaker names and stage directions in capitals say nothing about the language.
            if len(line.split()) >= 3 and not line.strip().isupper():
                add("shakespeare", "en", line)
    for d in docs(corp("linux-docs")):
        dom = d["domain"]
        lang = {"kernel-docs": "en", "kernel-docs-it_IT": "it", "kernel-docs-sp_SP": "es",
                "kernel-docs-ja_JP": "ja", "kernel-docs-ko_KR": "ko"}.get(dom)
        if dom in ("kernel-docs-zh_CN", "kernel-docs-zh_TW"):
            for line in d["text"].splitlines():
                if len(HAN.findall(line)) >= 2:
                    add("linux-docs-zh", "zh", line, mixed=bool(ASCII_WORD.search(line)))
        elif lang:
            for p in paragraphs(d["text"]):
                if prose(p):
                    add(f"linux-docs-{lang}", lang, p)
    if os.path.exists(corp("chinese-poetry")):
        for i, d in enumerate(docs(corp("chinese-poetry"))):
            if i % 20 == 0:
                add("chinese-poetry", "zh", d["text"])
    for d in docs(corp("fortunes-zh"), "chinese"):
        add("fortunes-zh", "zh", d["text"])
    import pyarrow.parquet as pq
    for t in pq.read_table(os.path.join(bundled, "tang-poems.parquet")).column("text").to_pylist():
        add("tang-poems", "zh", t)

    rng = random.Random(7)
    n = 0
    with open(a.out, "w") as out:
        for key in sorted(units):
            texts = sorted(set(units[key]))
            rng.shuffle(texts)
            source, lang, b, mixed = key
            for t in texts[: a.per_group]:
                out.write(json.dumps({"text": t, "lang": lang, "source": source, "bucket": b,
                                      "mixed": mixed}, ensure_ascii=False) + "\n")
                n += 1
            print(f"{source:16} {lang} {b:8} mixed={mixed!s:5} {min(len(texts), a.per_group):6}", file=sys.stderr)
    print(f"{n} labelled units -> {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
