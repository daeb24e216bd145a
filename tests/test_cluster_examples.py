"""The cluster examples (``examples/cluster/``) run commands the command line accepts: cheap checks, no grading.

No Slurm or Kubernetes runs here, so each example's shell is run with stand-ins:
the autograder's command is a recorder that keeps its arguments, and ``sbatch``
one that keeps its own. The arguments recorded are parsed with the command
line's own parser and built into a run's configuration, so a renamed option, a
shard counted from 0 or a count that disagrees with the array's size fails here.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from autograder.cli import parser
from autograder.config import RunConfig, Shard

ROOT = Path(__file__).resolve().parent.parent
SLURM = ROOT / "examples" / "cluster" / "slurm_batch.sh"
KUBERNETES = ROOT / "examples" / "cluster" / "k8s_indexed_job.yaml"
IMAGE_AUTOGRADER = "/autograder/source/.venv/bin/ps3-autograder"
"""The command in the image docker/Dockerfile builds: the autograder in /autograder/source, its venv there."""

RECORDER = """#!/bin/bash
printf '%s\\0' "$@" > "$RECORD"
exit "${EXIT_CODE:-0}"
"""
FAKE_SBATCH = """#!/bin/bash
calls=$(find "$SBATCH_CALLS" -type f | wc -l)
printf '%s\\0' "$@" > "$SBATCH_CALLS/call$calls"
echo "4242;cluster"
"""


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def recorded(path: Path) -> list[str]:
    return path.read_bytes().decode().split("\0")[:-1]


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without Slurm's or the autograder's settings, with ``extra``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "AUTOGRADER_", "JOB_COMPLETION_INDEX"))}
    return {**kept, **extra}


def check_batch(arguments: list[str], *, shard: str, out: str, jobs: int | None, environ: dict[str, str] | None = None) -> None:
    """``arguments`` are a batch of share ``shard`` into ``out``, accepted by the parser and by the run's configuration."""
    parsed = parser().parse_args(arguments)
    assert parsed.verb == "batch"
    assert str(parsed.out) == out
    assert parsed.shard == shard
    assert parsed.jobs == jobs
    config = RunConfig.build(jobs=parsed.jobs, shard=parsed.shard, problems=parsed.problems, environ=environ or {})
    assert config.shard == Shard.parse(shard)


# Slurm


def slurm_directives() -> dict[str, str]:
    return dict(re.findall(r"^#SBATCH --([a-z-]+)=(\S+)", SLURM.read_text(), flags=re.MULTILINE))


def slurm_shards() -> int:
    match = re.fullmatch(r"1-(\d+)(%\d+)?", slurm_directives()["array"])
    assert match, f"the array must be 1-N (shares are counted from 1), not {slurm_directives()['array']}"
    return int(match[1])


def test_bash_accepts_the_slurm_script() -> None:
    completed = subprocess.run(["bash", "-n", str(SLURM)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def test_the_slurm_script_asks_for_cpus_memory_and_time() -> None:
    directives = slurm_directives()
    for needed in ("array", "cpus-per-task", "mem", "time"):
        assert needed in directives, f"no #SBATCH --{needed}"
    assert slurm_shards() > 1


@pytest.mark.parametrize("task", ["first", "last"])
def test_each_slurm_task_grades_its_own_share_with_a_job_per_cpu(tmp_path: Path, task: str) -> None:
    shards = slurm_shards()
    index = 1 if task == "first" else shards
    record = tmp_path / "arguments"
    recorder = executable(tmp_path / "ps3-autograder", RECORDER)
    environment = clean_environment(
        AUTOGRADER=str(recorder),
        RECORD=str(record),
        SLURM_JOB_ID="4243",
        SLURM_ARRAY_TASK_ID=str(index),
        SLURM_ARRAY_TASK_COUNT=str(shards),
        SLURM_CPUS_PER_TASK=slurm_directives()["cpus-per-task"],
    )
    completed = subprocess.run(
        ["bash", str(SLURM), "class/submissions", "class/out"], cwd=tmp_path, env=environment, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    check_batch(
        recorded(record),
        shard=f"{index}/{shards}",
        out=f"class/out/shard-{index}",
        jobs=int(slurm_directives()["cpus-per-task"]),
    )
    assert recorded(record)[1] == "class/submissions"


def test_on_a_login_node_the_slurm_script_submits_the_array_then_a_merge_of_every_shard(tmp_path: Path) -> None:
    calls, bin_folder = tmp_path / "sbatch-calls", tmp_path / "bin"
    calls.mkdir()
    bin_folder.mkdir()
    executable(bin_folder / "sbatch", FAKE_SBATCH)
    recorder = executable(tmp_path / "ps3-autograder", RECORDER)
    environment = clean_environment(
        AUTOGRADER=str(recorder),
        RECORD=str(tmp_path / "arguments"),
        SBATCH_CALLS=str(calls),
        PATH=f"{bin_folder}{os.pathsep}{os.environ['PATH']}",
    )
    completed = subprocess.run(
        ["bash", str(SLURM), "class/submissions", "class/out"], cwd=tmp_path, env=environment, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    array, merge = (recorded(calls / f"call{n}") for n in range(2))
    assert len(list(calls.iterdir())) == 2
    assert array == ["--parsable", str(SLURM), "class/submissions", "class/out"]
    assert "--dependency=afterany:4242" in merge, merge
    wrapped = next(argument for argument in merge if argument.startswith("--wrap="))
    command = shlex.split(wrapped.removeprefix("--wrap="))
    assert command[0] == str(recorder)
    parsed = parser().parse_args(command[1:])
    assert parsed.verb == "merge"
    assert [str(path) for path in parsed.shards] == [f"class/out/shard-{i}" for i in range(1, slurm_shards() + 1)]
    assert str(parsed.out) == "class/out/class"


def test_the_slurm_script_says_how_it_is_run_without_its_two_arguments(tmp_path: Path) -> None:
    completed = subprocess.run(["bash", str(SLURM)], cwd=tmp_path, env=clean_environment(), capture_output=True, text=True)
    assert completed.returncode == 2
    assert "usage:" in completed.stderr


# Kubernetes


def kubernetes_jobs() -> dict[str, dict[str, Any]]:
    """The example's Jobs, by their ``step`` label (``grade``, ``merge``)."""
    documents = [document for document in yaml.safe_load_all(KUBERNETES.read_text()) if document]
    assert all(document["apiVersion"] == "batch/v1" and document["kind"] == "Job" for document in documents)
    return {document["metadata"]["labels"]["step"]: document for document in documents}


def container(job: dict[str, Any]) -> dict[str, Any]:
    (only,) = job["spec"]["template"]["spec"]["containers"]
    return dict(only)


def run_container(job: dict[str, Any], tmp_path: Path, exit_code: int = 0, **environment: str) -> tuple[int, list[str]]:
    """Run the container's shell command with the autograder replaced by the recorder: its exit status, the arguments."""
    spec = container(job)
    assert spec["command"] == ["/bin/bash", "-c"]
    (script,) = spec["args"]
    assert script.count(IMAGE_AUTOGRADER) == 1, f"the container must run {IMAGE_AUTOGRADER}, the image's autograder"
    recorder = executable(tmp_path / "ps3-autograder", RECORDER)
    record = tmp_path / "arguments"
    completed = subprocess.run(
        ["bash", "-c", script.replace(IMAGE_AUTOGRADER, str(recorder))],
        env=clean_environment(RECORD=str(record), EXIT_CODE=str(exit_code), **environment),
        capture_output=True,
        text=True,
    )
    return completed.returncode, recorded(record)


def test_the_kubernetes_example_is_an_indexed_job_on_a_shared_volume() -> None:
    jobs = kubernetes_jobs()
    assert set(jobs) == {"grade", "merge"}
    grading = jobs["grade"]["spec"]
    assert grading["completionMode"] == "Indexed"
    assert 1 <= grading["parallelism"] <= grading["completions"]
    for job in jobs.values():
        pod = job["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        assert "persistentVolumeClaim" in pod["volumes"][0]
        assert container(job)["volumeMounts"][0]["name"] == pod["volumes"][0]["name"]
        assert container(job)["image"] == container(jobs["grade"])["image"]
        resources = container(job)["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"])
    assert container(jobs["grade"])["image"].endswith("ps3-autograder:cpu")


def test_its_grading_jobs_follow_the_cpu_limit() -> None:
    grading = container(kubernetes_jobs()["grade"])
    (setting,) = (entry for entry in grading["env"] if entry["name"] == "AUTOGRADER_JOBS")
    field = setting["valueFrom"]["resourceFieldRef"]
    assert field == {"containerName": grading["name"], "resource": "limits.cpu", "divisor": "1"}
    assert int(grading["resources"]["limits"]["cpu"]) >= 1


@pytest.mark.parametrize("pod", ["first", "last"])
def test_each_kubernetes_pod_grades_the_share_of_its_index_counted_from_1(tmp_path: Path, pod: str) -> None:
    job = kubernetes_jobs()["grade"]
    completions = job["spec"]["completions"]
    index = 0 if pod == "first" else completions - 1  # JOB_COMPLETION_INDEX counts from 0
    cpus = str(container(job)["resources"]["limits"]["cpu"])
    code, arguments = run_container(job, tmp_path, JOB_COMPLETION_INDEX=str(index), AUTOGRADER_JOBS=cpus)
    assert code == 0
    check_batch(
        arguments,
        shard=f"{index + 1}/{completions}",
        out=f"/class/out/shard-{index + 1}",
        jobs=None,
        environ={"AUTOGRADER_JOBS": cpus},
    )
    mount = container(job)["volumeMounts"][0]["mountPath"]
    assert arguments[1].startswith(mount + "/") and arguments[2].startswith("--out")


@pytest.mark.parametrize(("batch_status", "pod_status"), [(0, 0), (1, 0), (2, 2), (130, 130)])
def test_a_pod_succeeds_when_batch_graded_its_share_even_with_autograder_failures(
    tmp_path: Path, batch_status: int, pod_status: int
) -> None:
    code, _ = run_container(kubernetes_jobs()["grade"], tmp_path, exit_code=batch_status, JOB_COMPLETION_INDEX="0")
    assert code == pod_status


def test_the_kubernetes_merge_joins_every_shard(tmp_path: Path) -> None:
    jobs = kubernetes_jobs()
    code, arguments = run_container(jobs["merge"], tmp_path)
    assert code == 0
    parsed = parser().parse_args(arguments)
    assert parsed.verb == "merge"
    completions = jobs["grade"]["spec"]["completions"]
    assert [str(path) for path in parsed.shards] == [f"/class/out/shard-{i}" for i in range(1, completions + 1)]
    assert str(parsed.out) not in {str(path) for path in parsed.shards}
