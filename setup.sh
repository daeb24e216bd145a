#!/usr/bin/env bash
# Sets up everything the autograder needs, in .venv beside this file. Idempotent:
# a second run with unchanged requirements does nothing. Gradescope runs it as
# its setup script.
#
#   ./setup.sh          what grading needs (requirements.txt)
#   ./setup.sh --dev    and what the project's tests need (requirements-dev.txt)
#
# Environment: PYTHON (the interpreter for the venv, default python3),
# AUTOGRADER_VENV (where the venv goes, default .venv), TORCH_INDEX_URL (where
# torch's CPU build comes from when no local wheel is known to pip).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
VENV="${AUTOGRADER_VENV:-.venv}"
TORCH_VERSION="2.13.0"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
requirements="requirements.txt"
case "${1:-}" in
  "") ;;
  --dev) requirements="requirements-dev.txt" ;;
  *) echo "usage: $0 [--dev]" >&2; exit 2 ;;
esac

# Gradescope's Ubuntu image may lack venv support.
if ! "$PYTHON" -c "import venv, ensurepip" 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip
  else
    echo "setup.sh: $PYTHON cannot create virtual environments (install python3-venv)" >&2
    exit 1
  fi
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
python="$VENV/bin/python"
stamp="$VENV/.installed-$(basename "$requirements" .txt)-$(cat requirements*.txt | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  echo "setup.sh: $VENV is up to date ($requirements)"
  exit 0
fi

# The CPU build of torch: PyPI's default build for Linux is the CUDA one (several GB).
# A wheel that pip already knows locally (find-links) is taken as it is; its
# dependencies come with the requirements below. Otherwise PyTorch's CPU index.
if ! "$python" -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  "$python" -m pip install --quiet --no-index --no-deps "torch==$TORCH_VERSION" 2>/dev/null \
    || "$python" -m pip install --quiet --index-url "$TORCH_INDEX_URL" "torch==$TORCH_VERSION"
fi
"$python" -m pip install --quiet -r "$requirements"
rm -f "$VENV"/.installed-*
touch "$stamp"
echo "setup.sh: $VENV is ready ($requirements)"
