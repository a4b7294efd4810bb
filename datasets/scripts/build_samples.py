"""Writes the bundled default corpus from unpacked packages (see build-samples.sh)."""
import gzip, json, os, sys

import pyarrow as pa
import pyarrow.parquet as pq

cache, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)

# English: fortunes, one category = one domain (BSD licensed, Debian package `fortunes`).
CATEGORIES = ["computers", "education", "food", "law", "medicine", "politics", "science", "sports", "work"]
n = 0
with gzip.GzipFile(f"{out}/fortunes.jsonl.gz", "wb", mtime=0) as gz:
    for cat in CATEGORIES:
        raw = open(f"{cache}/fortunes/usr/share/games/fortunes/{cat}", encoding="utf-8", errors="replace").read()
        for i, text in enumerate(t.strip("\n") for t in raw.split("\n%\n")):
            if text.strip():
                rec = {"id": f"fortunes/{cat}/{i}", "text": text, "domain": cat, "package": "fortunes 1.99.1"}
                gz.write((json.dumps(rec, ensure_ascii=False) + "\n").encode())
                n += 1
print(f"fortunes.jsonl.gz: {n} docs")

# Chinese: Tang poems, first edition and the second (Yuding) edition of the same poets:
# real near-duplicates with variant characters (chinese-poetry, MIT).
base = f"{cache}/chinese-poetry/package/dist"
rows = {"id": [], "text": [], "domain": [], "author": [], "edition": []}
first = json.load(open(f"{base}/quantangshi/poet.tang.0.json"))[:600]
for p in first:
    rows["id"].append(f"quantangshi/{p['id']}")
    rows["text"].append(p["title"] + "\n" + "\n".join(p["paragraphs"]))
    rows["domain"].append("poetry-zh")
    rows["author"].append(p["author"])
    rows["edition"].append("quantangshi")
second = json.load(open(f"{base}/yudingquantangshi/json/001.json"))[:150]
for i, p in enumerate(second):
    rows["id"].append(f"yudingquantangshi/001/{i}")
    rows["text"].append(p["title"] + "\n" + "\n".join(p["paragraphs"]))
    rows["domain"].append("poetry-zh")
    rows["author"].append(p["author"])
    rows["edition"].append("yudingquantangshi")
pq.write_table(pa.table(rows), f"{out}/tang-poems.parquet", compression="zstd")
print(f"tang-poems.parquet: {len(rows['id'])} docs")

# Legal: SPDX license texts as a directory of .txt files (CC0).
LICENSES = ["0BSD", "AGPL-3.0-only", "Apache-1.1", "Apache-2.0", "Artistic-2.0", "BSD-2-Clause",
            "BSD-3-Clause", "BSD-3-Clause-Clear", "BSD-4-Clause", "BSL-1.0", "CC0-1.0", "CDDL-1.0",
            "EPL-1.0", "EPL-2.0", "GPL-2.0-only", "GPL-3.0-only", "ISC", "LGPL-2.1-only",
            "LGPL-3.0-only", "MIT", "MIT-0", "MPL-1.1", "MPL-2.0", "NCSA", "PostgreSQL",
            "Unlicense", "X11", "Zlib"]
spdx = json.load(open(f"{cache}/spdx/package/spdx-full.json"))
os.makedirs(f"{out}/licenses/legal", exist_ok=True)
for lic in LICENSES:
    with open(f"{out}/licenses/legal/{lic}.txt", "w", encoding="utf-8") as f:
        f.write(spdx[lic]["licenseText"])
print(f"licenses/legal: {len(LICENSES)} docs")
