#!/usr/bin/env bash
# A binary that runs anywhere: `cargo install` into an empty root, then `sluice demo` from an
# empty directory, under strace, and fail if it opened anything in the build checkout.
#   scripts/check-install.sh [STEPS]      (~8 min on 2 cores: a release build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/env.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cargo install --quiet --path "$here" --root "$tmp/root"
mkdir "$tmp/run" && cd "$tmp/run"
strace -f -e trace=openat,execve -o "$tmp/trace" "$tmp/root/bin/sluice" demo --steps "${1:-20}" > "$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
for f in out/default/curated out/default/shards/manifest.json out/demo-train out/report.html; do
  [ -e "$f" ] || { echo "missing $f"; exit 1; }
done
if grep "$here" "$tmp/trace" | grep -v ENOENT; then
  echo "the installed binary read the build checkout"; exit 1
fi
echo "ok: installed sluice ran the demo from an empty directory; outputs under out/, nothing read from $here"
