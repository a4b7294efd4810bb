#!/usr/bin/env bash
# Renders a run report in headless Chromium (Debian package, installed if missing) and
# saves a PNG to look at: scripts/report-screenshot.sh [REPORT.html] [OUT.png]
# Default: out/report.html from `sluice demo` (a default build's; scripts/demo.sh builds
# without polars and writes none: `sluice report out/default --train out/demo-train --out
# out/report.html` with a default build makes it).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f ${1:-out/report.html} ]]; then
  echo "report-screenshot: no ${1:-out/report.html} (see the comment at the top of $0)" >&2
  exit 1
fi
REPORT=$(realpath "${1:-out/report.html}")
PNG=${2:-${REPORT%.html}.png}
if ! command -v chromium >/dev/null; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium >&2
fi
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,2400 \
  --screenshot="$PNG" "file://$REPORT" 2>/dev/null
python3 - "$PNG" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", b[16:24])
assert len(b) > 20_000, f"{len(b)} bytes: the page rendered (nearly) empty"
print(f"screenshot {sys.argv[1]}: {w}x{h}, {len(b)} bytes")
PY
