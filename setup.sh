#!/usr/bin/env bash
# Sets up everything the autograder needs, in .venv beside this file. Idempotent:
# a second run with unchanged requirements does nothing. Gradescope runs it as
# its setup script.
#
#   ./setup.sh          what grading needs (requirements.txt), and the harness as a package,
#                       with its command .venv/bin/ps3-autograder
#   ./setup.sh --dev    and what the project's tests need (requirements-dev.txt)
#
# Environment: PYTHON (the interpreter for the venv, default python3),
# AUTOGRADER_VENV (where the venv goes, default .venv), TORCH_INDEX_URL (where
# torch's CPU build comes from when no local wheel is known to pip),
# AUTOGRADER_WORKER_USER (default autograder-worker).
#
# As root (Gradescope), it also creates the unprivileged user that runs student
# code, and makes sure that user can import from the venv: the interpreter's
# standard library and the venv must be readable by it. An interpreter under
# /root (pyenv's, say) is not, so /usr/bin/python3 is taken instead when PYTHON
# is not given, and a venv made from an unreadable interpreter is made again.
set -euo pipefail
cd "$(dirname "$0")"

VENV="${AUTOGRADER_VENV:-.venv}"
WORKER_USER="${AUTOGRADER_WORKER_USER-autograder-worker}"
TORCH_VERSION="2.13.0"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
requirements="requirements.txt"
case "${1:-}" in
  "") ;;
  --dev) requirements="requirements-dev.txt" ;;
  *) echo "usage: $0 [--dev]" >&2; exit 2 ;;
esac

# As root: the worker user, and "$1 -c CODE" run as that user ($1 starts as root, then drops).
as_worker() {
  "$1" -c "import os, pwd, sys; e = pwd.getpwnam('$WORKER_USER'); os.setgroups([]); os.setgid(e.pw_gid); os.setuid(e.pw_uid); $2"
}
worker_can_use() {  # the interpreter $1's standard library is readable by the worker user
  [ "$(id -u)" != 0 ] || [ -z "$WORKER_USER" ] \
    || as_worker "$1" "import sysconfig; os.listdir(sysconfig.get_paths()['stdlib']); import decimal, statistics" 2>/dev/null
}
if [ "$(id -u)" = 0 ] && [ -n "$WORKER_USER" ] && ! id -u "$WORKER_USER" >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$WORKER_USER"
  echo "setup.sh: created the user $WORKER_USER, which runs student code"
fi
if [ -z "${PYTHON:-}" ]; then
  PYTHON=python3
  if ! worker_can_use "$PYTHON" && [ -x /usr/bin/python3 ] && worker_can_use /usr/bin/python3; then
    echo "setup.sh: $(command -v python3) is not readable by $WORKER_USER; using /usr/bin/python3"
    PYTHON=/usr/bin/python3
  fi
fi
if [ -x "$VENV/bin/python" ] && ! worker_can_use "$VENV/bin/python"; then
  echo "setup.sh: $VENV was made from an interpreter $WORKER_USER cannot read; making it again"
  rm -rf "$VENV"
fi

# Gradescope's Ubuntu image may lack venv support.
if ! "$PYTHON" -c "import venv, ensurepip" 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip
  else
    echo "setup.sh: $PYTHON cannot create virtual environments (install python3-venv)" >&2
    exit 1
  fi
fi

# The whole standard library: Debian and Ubuntu ship tkinter apart from Python (python3-tk),
# and a student's file that imports it, used or not (an editor's auto-import), must import.
# Only for the distribution's own Python (under /usr); where it cannot be installed, the
# workers give such imports a stand-in that fails when used, and the report says so.
if ! "$PYTHON" -c "import tkinter" 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
    && [ "$("$PYTHON" -c 'import sys; print(sys.base_prefix)')" = /usr ]; then
    version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    apt-get update -qq >/dev/null 2>&1 || true
    for package in python3-tk "python$version-tk"; do
      "$PYTHON" -c "import tkinter" 2>/dev/null && break
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 || true
    done
  fi
  if "$PYTHON" -c "import tkinter" 2>/dev/null; then
    echo "setup.sh: installed tkinter (python3-tk) for $PYTHON"
  else
    echo "setup.sh: $PYTHON has no tkinter; a student file that imports it gets a stand-in that fails when used"
  fi
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
python="$VENV/bin/python"
stamp="$VENV/.installed-$(basename "$requirements" .txt)-$(cat requirements*.txt pyproject.toml | sha256sum | cut -c1-16)"
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
# The harness itself, editable (it stays here, beside reference/), with its command: .venv/bin/ps3-autograder
# works from any folder. Its requirements are the pinned ones above, so none are resolved again.
"$python" -m pip install --quiet --no-deps --editable .
if [ "$(id -u)" = 0 ] && [ -n "$WORKER_USER" ] && ! as_worker "$python" "import torch, numpy, scipy.ndimage, PIL.Image"; then
  echo "setup.sh: $WORKER_USER cannot import from $VENV; put the venv where that user can read (AUTOGRADER_VENV)" >&2
  exit 1
fi
rm -f "$VENV"/.installed-*
touch "$stamp"
echo "setup.sh: $VENV is ready ($requirements)"
