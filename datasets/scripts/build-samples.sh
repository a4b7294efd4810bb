#!/usr/bin/env bash
# Rebuilds datasets/data/default/ from the original packages (Debian fortunes, npm
# chinese-poetry and spdx-license-list). Needs network access to those registries, python3
# and pyarrow; run it only to refresh the bundled samples (the tests never run it).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${SLUICE_CACHE:-$HOME/.cache/sluice}/pkgs
mkdir -p "$cache"
cd "$cache"
[[ -d fortunes ]] || { apt-get download fortunes >&2; dpkg-deb -x fortunes_*.deb fortunes; }
[[ -d chinese-poetry ]] || { npm pack --silent chinese-poetry@2.0.1 >&2; mkdir chinese-poetry; tar xzf chinese-poetry-2.0.1.tgz -C chinese-poetry; }
[[ -d spdx ]] || { npm pack --silent spdx-license-list@6.12.0 >&2; mkdir spdx; tar xzf spdx-license-list-6.12.0.tgz -C spdx; }
python3 "$here/scripts/build_samples.py" "$cache" "$here/data/default"
