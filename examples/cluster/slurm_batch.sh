#!/bin/bash
#SBATCH --job-name=ps3-grade
#SBATCH --array=1-8
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=02:00:00
#SBATCH --output=%x-%A_%a.out
#
# Grade a class on a Slurm cluster: a job array of 8 tasks, each grading its
# share of the class (`batch --shard I/8`) into OUT/shard-I with as many
# grading jobs as it has CPUs; then one job that merges the shards'
# tables into OUT/class/grades.csv and OUT/class/summary.md.
#
# From the autograder's folder (its .venv built by ./setup.sh, on a file
# system the compute nodes share, as SUBMISSIONS and OUT must be), on a
# login node:
#
#   bash examples/cluster/slurm_batch.sh SUBMISSIONS OUT
#
# submits both: this script as the array, then the merge, which starts once
# every shard has ended. It depends on them with afterany, not afterok: a shard
# exits 1 when the autograder failed on one of its submissions (the failure
# is in its tables), and the merge must run then too. When a shard ran out of
# time or failed, submit again: a shard grades only what has no complete
# report yet, and the merge is rewritten.
#
# The shards: change --array (always 1-N: shares are counted from 1) and the
# tasks read N from SLURM_ARRAY_TASK_COUNT. Each grading job needs about
# 700 MiB at its peak, so --mem is about 1 GiB per CPU. A submission takes
# 15 to 40 s of one CPU (480 s at most: AUTOGRADER_GRADING_SECONDS), so
# --time should cover the share's count times that, over --cpus-per-task.
# Settings (AUTOGRADER_PROBLEMS, AUTOGRADER_DEVICE, the limits) come from
# the environment of the submitting shell, which sbatch passes on.
#
# Without root (the usual case on Slurm) student code runs as you: the
# limits and the seccomp filter hold, but it can read what you can read
# (see docs/security.md).
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: bash $0 SUBMISSIONS OUT   (from the autograder's folder, on a login node)" >&2
    exit 2
fi
SUBMISSIONS=$1
OUT=$2
AUTOGRADER=${AUTOGRADER:-$PWD/.venv/bin/ps3-autograder}

if [[ -z "${SLURM_ARRAY_TASK_ID:-}" ]]; then
    # On the login node: submit this script as the array, then the merge of its shards.
    if [[ ! -x $AUTOGRADER ]]; then
        echo "error: $AUTOGRADER is not there: run this from the autograder's folder, after ./setup.sh" >&2
        exit 2
    fi
    shards=$(sed -n 's/^#SBATCH --array=1-\([0-9][0-9]*\).*/\1/p' "$0")
    array=$(sbatch --parsable "$0" "$SUBMISSIONS" "$OUT")
    array=${array%%;*}
    folders=""
    for ((shard = 1; shard <= shards; shard++)); do
        folders+=" $(printf %q "$OUT/shard-$shard")"
    done
    merge="$(printf %q "$AUTOGRADER") merge$folders --out $(printf %q "$OUT/class")"
    merged=$(sbatch --parsable --dependency="afterany:$array" --job-name=ps3-merge --cpus-per-task=1 --mem=2G \
        --time=00:30:00 --output=%x-%j.out --wrap="$merge")
    echo "Submitted the $shards shards as job $array and their merge as job ${merged%%;*}:"
    echo "$OUT/class/grades.csv and $OUT/class/summary.md once both are done."
    exit 0
fi

# An array task: grade share I of N, I counted from 1, with a grading job per CPU.
exec "$AUTOGRADER" batch "$SUBMISSIONS" --out "$OUT/shard-$SLURM_ARRAY_TASK_ID" \
    --shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" --jobs "${SLURM_CPUS_PER_TASK:-1}"
