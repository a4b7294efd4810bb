#!/usr/bin/env bash
# Installs PyTorch 2.13.0 (the version sluice's libtorch comes from) into a venv outside the
# work tree, for benches/train_bench.py, benches/loader_bench.py and the Python package's
# tests (scripts/test-python.sh: pytest, maturin). PyPI's only Linux wheel is CUDA-built, so
# its nvidia runtime wheels come along (~2.6 GB downloaded once, ~4.7 GB installed); torch
# loads them and runs on the CPU.
# Idempotent. Prints the venv path.
set -euo pipefail
CACHE=${SLUICE_CACHE:-$HOME/.cache/sluice}
VENV="$CACHE/torchpy"
if [[ ! -f "$VENV/.complete-2" ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check --find-links "$CACHE/wheels" \
    "torch==2.13.0" numpy "pyarrow==26.0.1" pytest "maturin>=1.9,<2" >&2
  "$VENV/bin/python" -c "import torch; torch.randn(2, 2).sum()" >&2
  touch "$VENV/.complete-2"
fi
# The trainers' own readers for `sluice export` in the Python tests: megatron-core's
# IndexedDataset (pure Python on torch and numpy; its extras are not needed), litdata and
# mosaicml-streaming. torch and torchvision are pinned in the same resolve, or litdata's
# dependency on torchvision would upgrade torch past libtorch's version.
if [[ ! -f "$VENV/.complete-export-1" ]]; then
  "$VENV/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check --no-deps "megatron-core==0.16.1" >&2
  "$VENV/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check --find-links "$CACHE/wheels" \
    "litdata==0.2.76" "mosaicml-streaming==0.13.0" "torchvision==0.28.*" "torch==2.13.0" >&2
  "$VENV/bin/python" -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__" >&2
  touch "$VENV/.complete-export-1"
fi
echo "$VENV"
