#!/usr/bin/env bash
# One-shot set-up on a fresh machine: a virtual environment with kdaug and its dependencies,
# WordNet, and the demo corpus. Safe to run again: it skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${KDAUG_VENV:-.venv}
# A CPU wheel by default; on a CUDA machine set KDAUG_TORCH="torch==2.13.0" from the CUDA index, or "torch".
TORCH_SPEC=${KDAUG_TORCH:-torch==2.13.0}
PY=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.kdaug-installed"
want="$(cat pyproject.toml setup.py | sha256sum | cut -c1-16) $TORCH_SPEC"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing $TORCH_SPEC, then kdaug[test,demo]"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
  # torch first and pinned: unpinned, pip resolves the newest build with GBs of CUDA packages.
  "$VENV/bin/python" -m pip install -q "$TORCH_SPEC" 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -m pip install -q -e ".[test,demo,serve]" 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -c "import torch, apache_beam, transformers, kdaug.core, kdaug.pipelines, kdaug.trainers" \
    || { echo "[setup] the install failed; see pip's messages above" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

# WordNet: nltk's data path, else a system install (Debian/Ubuntu: wordnet-base), else install one.
if ! "$VENV/bin/python" -m kdaug.core.assets.wordnet --check >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "[setup] installing WordNet 3.0 (apt-get install wordnet-base)"
    (apt-get install -y -qq wordnet-base >/dev/null 2>&1) \
      || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wordnet-base >/dev/null 2>&1) || true
  fi
  if ! "$VENV/bin/python" -m kdaug.core.assets.wordnet --check >/dev/null 2>&1; then
    "$VENV/bin/python" -m nltk.downloader -q wordnet >/dev/null 2>&1 || true
  fi
fi
"$VENV/bin/python" -m kdaug.core.assets.wordnet --check

# Chromium, for the test that opens `kdaug report`'s page in a real (headless) browser: Debian's package.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "[setup] installing Chromium (apt-get install chromium), for the report's browser test"
    (apt-get install -y -qq chromium >/dev/null 2>&1) \
      || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1) \
      || echo "[setup] could not install Chromium: the report's browser test will fail; install it by hand" >&2
  else
    echo "[setup] Chromium is missing (Debian/Ubuntu: apt-get install chromium): the report's browser test needs it" >&2
  fi
fi

# The demo corpus (MR sentence polarity): fetched at set-up time, never committed.
"$VENV/bin/python" -m kdaug.core.assets.mr --check
