#!/usr/bin/env bash
# The GPU path, checked on a machine with a CUDA GPU and a CUDA build of torch:
# grades the reference with --device cuda and --device cpu (times and scores
# for both), and grades a copy of the reference whose CustomReLU.forward makes
# a tensor on the CPU (as the course's original given code did), which must
# lose points with a message that says the code is not device-agnostic.
#
#   bench/gpu_check.sh [OUT_DIR]        PYTHON selects the interpreter (default python3)
set -u
cd "$(dirname "$0")/.."
out="${1:-/tmp/gpu-check}"
python="${PYTHON:-python3}"
mkdir -p "$out"
# As root, workers run as the worker user (see the README's security section); the
# interpreter given as PYTHON must be readable by that user.
if [ "$(id -u)" = 0 ] && ! id -u autograder-worker >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin autograder-worker
fi

"$python" - <<'PY'
import torch
print("torch", torch.__version__, "| cuda available:", torch.cuda.is_available(),
      "|", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
PY

report() {
  "$python" - "$@" <<'PY'
import json, sys
path, label, wall = sys.argv[1], sys.argv[2], float(sys.argv[4]) - float(sys.argv[3])
report = json.load(open(path))
total = sum(t["max_score"] for t in report["tests"])
seconds = {k: round(v["seconds"], 2) for k, v in report["extra_data"]["problems"].items()}
print(f"{label}: score {report['score']:g} / {total:g}, wall {wall:.1f} s, per problem {seconds}")
for test in report["tests"]:
    if test["status"] == "failed":
        print(f"  FAILED {test['number']} {test['name']}\n    " + test["output"][:1500].replace("\n", "\n    "))
PY
}

for device in cuda cpu; do
  start=$(date +%s.%N)
  "$python" -m autograder grade reference --results "$out/reference-$device.json" --device "$device" --quiet
  end=$(date +%s.%N)
  report "$out/reference-$device.json" "reference on $device" "$start" "$end"
done

submission="$(mktemp -d)/submission"
cp -r reference "$submission"
sed -i 's/torch.zeros_like(x)/torch.zeros(x.size())/' "$submission/visualizers/gradcam.py"
start=$(date +%s.%N)
"$python" -m autograder grade "$submission" --results "$out/not-device-agnostic.json" --device cuda \
  --problems guided_backprop,gradcam --quiet
end=$(date +%s.%N)
report "$out/not-device-agnostic.json" "CustomReLU.forward with torch.zeros(x.size()), on cuda" "$start" "$end"
