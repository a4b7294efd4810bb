#!/usr/bin/env bash
# Installs the web-extraction peers into their own venv (outside the work tree; not part of
# CI's peers venv): trafilatura 2.3.1 (with lxml_html_clean, which its lxml extra no longer
# resolves here), resiliparse and fastwarc 2.0.0, warcio 1.8.1. Idempotent; prints the venv.
set -euo pipefail
CACHE=${SLUICE_CACHE:-$HOME/.cache/sluice}
VENV="$CACHE/web-peers"
if [[ ! -f "$VENV/.complete-1" ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check \
    "trafilatura==2.3.1" "lxml_html_clean==0.4.6" "resiliparse==2.0.0" "fastwarc==2.0.0" \
    "warcio==1.8.1" >&2
  touch "$VENV/.complete-1"
fi
echo "$VENV"
