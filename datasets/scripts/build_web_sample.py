#!/usr/bin/env python3
"""Builds datasets/data/web/rust-docs.warc.gz: real HTML pages written as a WARC the way
Common Crawl lays one out (one gzip member per record; warcinfo, then request/response
pairs), for the web pipeline (pipelines/web.toml) and its tests.

The pages come from the Rust toolchain's `rust-docs` component (MIT or Apache-2.0): mdBook
chapters of The Rust Programming Language, The rustdoc Book and Rust by Example, plus
rustdoc API pages of std, each with its navigation, sidebar, search and theme chrome; and
the books' CSS (a non-HTML response the reader counts and skips). Record ids and dates are
derived from the URLs, so the file is the same byte for byte on every run with the same
toolchain docs.

    python3 datasets/scripts/build_web_sample.py [--docs DIR] [--out FILE]
"""

import argparse
import gzip
import hashlib
import io
import os
import subprocess
import uuid

PAGES = (
    [f"book/ch{c:02d}-{s:02d}-" for c, s in [(1, 1), (3, 1), (3, 2), (4, 1), (4, 2), (5, 1), (6, 1), (8, 1), (8, 2), (9, 2), (10, 1), (13, 1), (15, 1), (16, 1), (19, 1)]]
    + ["rustdoc/what-is-rustdoc.html", "rustdoc/how-to-write-documentation.html", "rustdoc/command-line-arguments.html"]
    + ["rust-by-example/hello.html", "rust-by-example/primitives.html", "rust-by-example/flow_control/match.html", "rust-by-example/fn/closures.html"]
    + ["std/vec/struct.Vec.html", "std/collections/struct.HashMap.html", "std/string/struct.String.html", "std/option/enum.Option.html"]
)
CSS = ["book/css/general-", "rustdoc/css/general-"]


def resolve(docs, entry):
    """A file under docs; an entry ending in '-' names the file that starts so (chapter names,
    hashed CSS names)."""
    if not entry.endswith("-"):
        return entry
    d, prefix = os.path.split(entry)
    names = sorted(n for n in os.listdir(os.path.join(docs, d)) if n.startswith(prefix))
    return os.path.join(d, names[0]) if names else None


def member(record: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
        g.write(record)
    return buf.getvalue()


def record(kind, url, block, content_type, extra=()):
    rid = uuid.uuid5(uuid.NAMESPACE_URL, kind + ":" + url)
    day = 1 + int(hashlib.sha1(url.encode()).hexdigest(), 16) % 28
    head = [
        "WARC/1.0",
        f"WARC-Type: {kind}",
        f"WARC-Record-ID: <urn:uuid:{rid}>",
        f"WARC-Date: 2026-11-{day:02d}T12:00:00Z",
        f"WARC-Target-URI: {url}",
        f"Content-Type: {content_type}",
        *extra,
        f"Content-Length: {len(block)}",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + block + b"\r\n\r\n"


def main():
    ap = argparse.ArgumentParser()
    sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True).stdout.strip()
    ap.add_argument("--docs", default=os.path.join(sysroot, "share/doc/rust/html"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../data/web/rust-docs.warc.gz"))
    a = ap.parse_args()
    out = [member(record("warcinfo", "", b"software: sluice build_web_sample.py\r\nformat: WARC File Format 1.0\r\n", "application/warc-fields"))]
    n = 0
    for entry in PAGES + CSS:
        rel = resolve(a.docs, entry)
        if rel is None or not os.path.exists(os.path.join(a.docs, rel)):
            raise SystemExit(f"{entry}: not in {a.docs} (install the rust-docs component)")
        url = "https://doc.rust-lang.org/" + rel
        body = open(os.path.join(a.docs, rel), "rb").read()
        ctype = "text/css" if rel.endswith(".css") else "text/html; charset=utf-8"
        req = f"GET /{rel} HTTP/1.1\r\nHost: doc.rust-lang.org\r\nUser-Agent: sluice-sample\r\n\r\n".encode()
        out.append(member(record("request", url, req, "application/http; msgtype=request")))
        http = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        out.append(member(record("response", url, http, "application/http; msgtype=response")))
        n += 1
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "wb") as f:
        f.write(b"".join(out))
    print(f"{a.out}: {n} responses, {os.path.getsize(a.out)} bytes")


if __name__ == "__main__":
    main()
