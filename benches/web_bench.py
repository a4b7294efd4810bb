"""HTML main-text extraction and WARC -> text: sluice next to trafilatura 2.3.1 and
resiliparse 2.0.0 (benches/web-peers-setup.sh), on real documentation pages with their
site chrome: the mdBook books of the Rust toolchain's `rust-docs` component (The Rust
Programming Language, rustdoc, Rust by Example, Cargo, the Reference, the Nomicon, the
Edition Guide), whose article is the page's `<main>`; the Debian Reference in Chinese
(`apt-get download debian-reference-zh-cn`), whose navigation and table of contents are
marked; and the templated and hard-case pages of benches/web_pages.py.

Quality: token-level precision, recall and F1 of each extractor's text against the page's
`<main>` as a browser shows it (computed with Python's html.parser, independent of every
extractor: `<pre>` verbatim, other white space collapsed, scripts and styles out), and the
share of `<pre>` code blocks that come out whole, indentation and line breaks included.
Speed: MB/s of HTML on one core, extraction only (pages in memory). WARC -> text: wall time
for a .warc.gz of the same pages, `sluice run` (warc reader + html_extract, one worker)
against warcio + trafilatura and fastwarc + resiliparse in one process each.

    python3 benches/web_bench.py --extract target/release/examples/extract_html \
        --sluice target/release/sluice-curate --python ~/.cache/sluice/web-peers/bin/python
"""
import argparse, collections, gzip, html.parser, io, json, os, re, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(__file__))
from common import emit, run_peak  # noqa: E402
import web_pages  # noqa: E402

BOOKS = ["book", "rustdoc", "rust-by-example", "cargo", "reference", "nomicon", "edition-guide"]
BLOCK = {"p", "div", "section", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd",
         "blockquote", "pre", "table", "tr", "td", "th", "br", "hr", "figure", "figcaption", "main"}


class Truth(html.parser.HTMLParser):
    """The text of the `root` element (`<main>`), and its <pre> blocks, as a browser shows
    them; `<div>`s with a class in `leave_out` (navigation) are not part of it."""

    def __init__(self, root="main", leave_out=()):
        super().__init__(convert_charrefs=True)
        self.root, self.leave_out = root, set(leave_out)
        self.out_depth = 0
        self.depth = 0
        self.skip = 0
        self.pre = 0
        self.out = []
        self.pres = []
        self.cur_pre = []

    def handle_starttag(self, tag, attrs):
        if tag == self.root:
            self.depth += 1
        if self.depth == 0:
            return
        if tag == "div" and (self.out_depth or set((dict(attrs).get("class") or "").split()) & self.leave_out):
            self.out_depth += 1
        if self.out_depth:
            return
        if tag in ("script", "style"):
            self.skip += 1
        if tag == "pre":
            self.pre += 1
            self.cur_pre = []
        if tag in BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if self.depth == 0:
            return
        if self.out_depth:
            self.out_depth -= tag == "div"
            return
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        if tag == "pre" and self.pre:
            self.pre -= 1
            self.pres.append("".join(self.cur_pre).strip("\n").rstrip())
        if tag in BLOCK:
            self.out.append("\n")
        if tag == self.root:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth == 0 or self.skip or self.out_depth:
            return
        if self.pre:
            self.cur_pre.append(data)
            self.out.append(data)
        else:
            self.out.append(re.sub(r"\s+", " ", data))


def truth(page, root="main", leave_out=()):
    t = Truth(root, leave_out)
    t.feed(page)
    return "".join(t.out), [p for p in t.pres if p.strip()]


def tokens(text):
    return collections.Counter(re.findall(r"\w+", text.lower()))


def prf(pred, gold):
    p, g = tokens(pred), tokens(gold)
    inter = sum((p & g).values())
    prec = inter / max(1, sum(p.values()))
    rec = inter / max(1, sum(g.values()))
    return prec, rec, 2 * prec * rec / max(1e-9, prec + rec)


def pages(docs, limit):
    out = []
    for b in BOOKS:
        root = os.path.join(docs, b)
        for d, _, fs in sorted(os.walk(root)):
            for f in sorted(fs):
                if f.endswith(".html") and f not in ("print.html", "toc.html", "404.html"):
                    p = os.path.join(d, f)
                    page = open(p, encoding="utf-8", errors="replace").read()
                    gold, pres = truth(page)
                    if len(gold.strip()) >= 500:
                        out.append((p, page, gold, pres))
    out.sort(key=lambda x: x[0])
    step = max(1, len(out) // limit)
    return out[::step][:limit]


PEERS = r'''
import json, sys, time
which, files = sys.argv[1], sys.argv[2:]
if which == "trafilatura":
    import trafilatura
    run = lambda h: trafilatura.extract(h, include_comments=False, include_tables=True) or ""
else:
    from resiliparse.extract.html2text import extract_plain_text
    run = lambda h: extract_plain_text(h, main_content=True)
for f in files:
    h = open(f, encoding="utf-8", errors="replace").read()
    t = time.perf_counter(); text = run(h); s = time.perf_counter() - t
    print(json.dumps({"file": f, "text": text, "seconds": s}))
'''

WARC_PEERS = r'''
import sys, time
which, path = sys.argv[1], sys.argv[2]
t = time.perf_counter(); n = 0; chars = 0
if which == "trafilatura":
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator
    with open(path, "rb") as f:
        for r in ArchiveIterator(f):
            if r.rec_type == "response" and "html" in (r.http_headers.get_header("Content-Type") or ""):
                h = r.content_stream().read().decode("utf-8", "replace")
                chars += len(trafilatura.extract(h, include_comments=False, include_tables=True) or ""); n += 1
else:
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.extract.html2text import extract_plain_text
    with open(path, "rb") as f:
        for r in ArchiveIterator(f, record_types=WarcRecordType.response):
            r.parse_http()
            if "html" in (r.http_headers.get("Content-Type") or ""):
                h = r.reader.read().decode("utf-8", "replace")
                chars += len(extract_plain_text(h, main_content=True)); n += 1
print(n, chars, time.perf_counter() - t)
'''


def debian_reference_zh():
    """The Debian Reference in Chinese (Debian's debian-reference-zh-cn 2.100, DocBook HTML,
    GPL-2+): real Chinese pages whose navigation header and footer and chapter table of
    contents are the boilerplate; truth = the rest of the body."""
    pkg = os.path.join(os.path.expanduser(os.environ.get("SLUICE_CACHE", "~/.cache/sluice")), "pkgs", "debian-reference-zh")
    root = os.path.join(pkg, "usr/share/debian-reference")
    if not os.path.isdir(root):
        os.makedirs(pkg, exist_ok=True)
        subprocess.run(["apt-get", "download", "debian-reference-zh-cn=2.100"], cwd=pkg, check=True, capture_output=True)
        deb = [f for f in os.listdir(pkg) if f.endswith(".deb")][0]
        subprocess.run(["dpkg-deb", "-x", deb, "."], cwd=pkg, check=True)
    out = []
    for f in sorted(os.listdir(root)):
        if f.endswith(".zh-cn.html") and f != "index.zh-cn.html":
            p = os.path.join(root, f)
            page = open(p, encoding="utf-8").read()
            gold, pres = truth(page, "body", ("navheader", "navfooter", "toc"))
            out.append((p, page, gold, pres))
    return out


def evaluate(what, sample, a):
    """P/R/F1 against the truth, code blocks intact and MB/s of every extractor on `sample`."""
    files = [s[0] for s in sample]
    mb = sum(len(s[1].encode()) for s in sample) / 1e6
    results = {
        "sluice html_extract": run_lines([a.extract, *files]),
        "trafilatura 2.3.1": run_lines([a.python, "-c", PEERS, "trafilatura", *files]),
        "resiliparse 2.0.0": run_lines([a.python, "-c", PEERS, "resiliparse", *files]),
    }
    rows = []
    print(f"-- {what}: {len(sample)} pages, {mb:.1f} MB")
    for tool, res in results.items():
        scores = [prf(res[p]["text"], gold) for p, _, gold, _ in sample]
        blocks = [(b, res[p]["text"]) for p, _, _, pres in sample for b in pres]
        intact = sum(b in text for b, text in blocks) / max(1, len(blocks))
        secs = sum(r["seconds"] for r in res.values())
        P, R, F = (sum(x[i] for x in scores) / len(scores) for i in range(3))
        code = f"  code blocks intact {intact:.1%}" if blocks else ""
        print(f"{tool:22s} P {P:.3f} R {R:.3f} F1 {F:.3f}{code}  {mb / secs:7.1f} MB/s")
        rows.append({"bench": f"html extraction ({what})", "tool": tool, "seconds": secs, "quality": round(F, 4),
                     "note": f"P {P:.3f} R {R:.3f}{';' + code if blocks else ''}; {mb / secs:.1f} MB/s"})
    return rows


def run_lines(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return {r["file"]: r for r in map(json.loads, out.splitlines())}


def write_warc(sample, path, copies=1):
    """The pages as a .warc.gz, one gzip member per record; `copies` times over (distinct
    record ids and URLs) for a big file."""
    def member(b):
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as g:
            g.write(b)
        return buf.getvalue()
    with open(path, "wb") as f:
        for i, (p, page, _, _) in enumerate(sample * copies):
            body = page.encode()
            http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + body
            head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{i:012d}>\r\n"
                    f"WARC-Target-URI: https://doc.rust-lang.org/{i // len(sample)}/{os.path.relpath(p)}\r\nWARC-Date: 2026-12-01T00:00:00Z\r\n"
                    f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http)}\r\n\r\n").encode()
            f.write(member(head + http + b"\r\n\r\n"))


def big_warc(sample, mb, a):
    """One big .warc.gz (the pages repeated to `--big-gb` of HTML): `sluice run` with
    html_extract on 1 and 2 workers: wall, MB/s per core, peak RSS, identical output."""
    os.makedirs(a.workdir, exist_ok=True)
    copies = max(1, round(a.big_gb * 1000 / mb))
    warc = os.path.join(a.workdir, "big.warc.gz")
    if not os.path.exists(warc) or os.path.getmtime(warc) < os.path.getmtime(__file__):
        write_warc(sample, warc + ".partial", copies)
        os.replace(warc + ".partial", warc)
    html_mb = mb * copies
    cfg = os.path.join(a.workdir, "big.toml")
    open(cfg, "w").write(f'[[input]]\npaths = ["big.warc.gz"]\n[output]\ndir = "out"\n[[stages]]\ntype = "html_extract"\n')
    rows, digests = [], {}
    for w in (1, 2):
        out = os.path.join(a.workdir, f"out-w{w}")
        subprocess.run(["rm", "-rf", out], check=True)
        wall, peak, _ = run_peak([a.sluice, "run", cfg, "--workers", str(w), "--out", out])
        h = hashlib_tree(os.path.join(out, "curated"))
        digests[w] = h
        per_core = html_mb / wall / w
        print(f"big WARC ({os.path.getsize(warc) / 1e9:.2f} GB gz, {html_mb / 1000:.2f} GB HTML): "
              f"{w} worker(s) {wall:6.1f} s  {per_core:5.1f} MB/s per core  peak {peak:.0f} MB  curated {h[:8]}")
        rows.append({"bench": "WARC -> text, one big .warc.gz", "tool": f"sluice run, {w} worker(s)", "seconds": wall,
                     "peak_mb": peak, "note": f"{html_mb / 1000:.2f} GB HTML, {per_core:.1f} MB/s per core, curated {h[:8]}"})
    print(f"2 workers: {rows[0]['seconds'] / rows[1]['seconds']:.2f}x 1 worker; identical output: {digests[1] == digests[2]}")
    return rows


def hashlib_tree(d):
    import hashlib
    h = hashlib.sha256()
    for f in sorted(os.listdir(d)):
        h.update(f.encode())
        h.update(open(os.path.join(d, f), "rb").read())
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True).stdout.strip()
    ap.add_argument("--docs", default=os.path.join(sysroot, "share/doc/rust/html"))
    ap.add_argument("--extract", default="target/release/examples/extract_html")
    ap.add_argument("--sluice", default="target/release/sluice-curate")
    ap.add_argument("--python", default=os.path.expanduser("~/.cache/sluice/web-peers/bin/python"))
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--templates", type=int, default=100, help="pages per template set (news-en, portal-zh; hard: a quarter)")
    ap.add_argument("--big-gb", type=float, default=0, help="also: a .warc.gz of this many GB of HTML, 1 vs 2 workers")
    ap.add_argument("--workdir", default="out/bench/web")
    ap.add_argument("--json")
    a = ap.parse_args()
    sample = pages(a.docs, a.pages)
    mb = sum(len(s[1].encode()) for s in sample) / 1e6
    print(f"{len(sample)} pages, {mb:.1f} MB of HTML, {sum(len(s[3]) for s in sample)} code blocks")
    rows = evaluate("rust-docs pages", sample, a)
    with tempfile.TemporaryDirectory() as tmp:
        made = web_pages.template_pages(a.templates)
        groups = collections.defaultdict(list)
        for name, page, gold, pres in made:
            path = os.path.join(tmp, name.replace("/", "-") + ".html")
            open(path, "w", encoding="utf-8").write(page)
            groups[name.split("/")[0]].append((path, page, gold, pres))
        for g, items in groups.items():
            rows += evaluate(g, items, a)
        rows += evaluate("debian-reference-zh", debian_reference_zh(), a)
    with tempfile.TemporaryDirectory() as tmp:
        warc = os.path.join(tmp, "pages.warc.gz")
        write_warc(sample, warc)
        cfg = os.path.join(tmp, "web.toml")
        open(cfg, "w").write(f'[[input]]\npaths = ["{warc}"]\n[output]\ndir = "out"\n[[stages]]\ntype = "html_extract"\n')
        t = time.perf_counter()
        subprocess.run([a.sluice, "run", cfg, "--workers", "1", "--out", os.path.join(tmp, "out")],
                       check=True, capture_output=True)
        walls = {"sluice run (warc + html_extract)": time.perf_counter() - t}
        for which, name in [("trafilatura", "warcio + trafilatura"), ("resiliparse", "fastwarc + resiliparse")]:
            t = time.perf_counter()
            subprocess.run([a.python, "-c", WARC_PEERS, which, warc], check=True, capture_output=True)
            walls[name] = time.perf_counter() - t
    for name, wall in walls.items():
        print(f"WARC -> text: {name:34s} {wall:6.2f} s  {len(sample) / wall:7.1f} pages/s  {mb / wall:6.1f} MB/s")
        rows.append({"bench": "WARC -> text (rust-docs pages)", "tool": name, "seconds": wall,
                     "note": f"{len(sample) / wall:.1f} pages/s, {mb / wall:.1f} MB/s, one core"})
    if a.big_gb:
        rows += big_warc(sample, mb, a)
    emit(a.json, rows)


if __name__ == "__main__":
    main()
