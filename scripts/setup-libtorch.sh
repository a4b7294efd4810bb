#!/usr/bin/env bash
# Prepares a CPU libtorch 2.13.0 (what tch 0.26 wants) from the PyPI wheel, without any
# download from the PyTorch site. Idempotent: the result is cached outside the work tree.
#
#   scripts/setup-libtorch.sh          # prints the libtorch root on stdout
#
# Cache: $SLUICE_CACHE (default ~/.cache/sluice). Recipe: shared/docs/LIBTORCH.md.
set -euo pipefail

TORCH_VERSION=2.13.0
CACHE=${SLUICE_CACHE:-$HOME/.cache/sluice}
ROOT="$CACHE/libtorch-$TORCH_VERSION-cpu"
WHEELS="$CACHE/wheels"

if [[ -f "$ROOT/.complete" ]]; then
  echo "$ROOT"
  exit 0
fi

log() { echo "setup-libtorch: $*" >&2; }

mkdir -p "$WHEELS"
if ! ls "$WHEELS"/torch-$TORCH_VERSION-*.whl >/dev/null 2>&1; then
  log "downloading torch==$TORCH_VERSION wheel from PyPI (about 530 MB)"
  python3 -m pip download --quiet --no-cache-dir --no-deps "torch==$TORCH_VERSION" -d "$WHEELS" >&2
fi
if ! ls "$WHEELS"/nvidia_cuda_runtime-*.whl "$WHEELS"/nvidia_cuda_cupti-*.whl >/dev/null 2>&1; then
  log "downloading the CUDA runtime stubs libtorch_cpu.so links against (about 13 MB)"
  python3 -m pip download --quiet --no-cache-dir --no-deps "nvidia-cuda-runtime==13.0.96" "nvidia-cuda-cupti==13.0.85" -d "$WHEELS" >&2
fi

TMP=$(mktemp -d "$CACHE/.libtorch-tmp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
log "unpacking into $ROOT"
python3 - "$WHEELS" "$TMP" "$TORCH_VERSION" <<'PY'
import glob, os, sys, zipfile
wheels, out, version = sys.argv[1], sys.argv[2], sys.argv[3]
keep_libs = {"libc10.so", "libtorch_cpu.so", "libshm.so"}
os.makedirs(f"{out}/lib", exist_ok=True)
torch_whl = glob.glob(f"{wheels}/torch-{version}-*.whl")[0]
with zipfile.ZipFile(torch_whl) as z:
    for info in z.infolist():
        name = info.filename
        if name.startswith("torch/include/") and not name.endswith("/"):
            z.extract(info, out)
        elif name.startswith("torch/lib/"):
            base = os.path.basename(name)
            if base in keep_libs or base.startswith("libgomp"):
                with z.open(info) as src, open(f"{out}/lib/{base}", "wb") as dst:
                    dst.write(src.read())
for pattern, prefix in [("nvidia_cuda_runtime-*.whl", "libcudart.so"), ("nvidia_cuda_cupti-*.whl", "libcupti.so")]:
    whl = glob.glob(f"{wheels}/{pattern}")[0]
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            base = os.path.basename(info.filename)
            if base.startswith(prefix):
                with z.open(info) as src, open(f"{out}/lib/{base}", "wb") as dst:
                    dst.write(src.read())
os.rename(f"{out}/torch/include", f"{out}/include")
os.rmdir(f"{out}/torch")
PY
# libgomp in the wheel carries a hash suffix; libtorch_cpu.so asks for it by that name, keep it.
# tch links -ltorch; the real libtorch.so pulls in CUDA, so a CPU build gets an empty one.
gcc -shared -fPIC -o "$TMP/lib/libtorch.so" -x c /dev/null
echo "$TORCH_VERSION" > "$TMP/build-version"
rm -rf "$ROOT"
mv "$TMP" "$ROOT"
trap - EXIT
touch "$ROOT/.complete"
# The unpacked root is all the build needs; the 530 MB wheel would only sit on the disk.
rm -f "$WHEELS"/torch-$TORCH_VERSION-*.whl
log "libtorch ready at $ROOT"
echo "$ROOT"
