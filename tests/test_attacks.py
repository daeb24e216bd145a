"""The adversarial corpus: every attack in tests/attacks earns no more than its honest part.

All attacks are graded once per test session (``batch``, in batches,
with short time limits), by whichever pytest process needs them first. Around
that grading the fixture records what must not change: the autograder's own
files, a file of the grader's in /tmp (the sentinel), and, per attack, the
processes and files it tries to leave behind. Attacks marked ``root_only``
test defences that need a worker user, and are skipped when the tests do not
run as root.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autograder.results import validate
from tests.scenarios import ATTACKS, ROOT, Scenario, all_scenarios, check_outcome, grade_all

IS_ROOT = os.geteuid() == 0
ATTACK_LIST = all_scenarios(ATTACKS)
SENTINEL = Path("/tmp/autograder-attack-sentinel")
LIMITS = {
    "AUTOGRADER_CALL_SECONDS": "5",
    "AUTOGRADER_IMPORT_SECONDS": "5",
    "AUTOGRADER_PROBLEM_SECONDS": "40",
    "AUTOGRADER_RESULT_BYTES": str(64 << 20),
}
WATCHED = ("autograder", "reference", "student_template", "run_autograder", "setup.sh", "requirements.txt")


def harness_files() -> dict[str, str]:
    """The content hash of every file of the autograder that a worker must not change."""
    digests = {}
    for name in WATCHED:
        top = ROOT / name
        for path in [top] if top.is_file() else sorted(top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digests[str(path.relative_to(ROOT))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def running_process_names() -> set[str]:
    names = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                names.add(Path(f"/proc/{entry}/comm").read_text().strip())
            except OSError:
                continue
    return names


IPC_ATTACK = "leaves_messages_in_ipc_for_later_workers"
ATTACK_IPC_KEYS = 0x7A7A  # the high 16 bits of every SysV key the IPC attack uses


def attack_ipc_objects() -> list[tuple[str, int, int]]:
    """The SysV IPC objects (shared memory, message queues, semaphores) of the IPC attack's keys: (kind, key, id)."""
    found = []
    for kind in ("shm", "msg", "sem"):
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            key, identifier = (int(field) for field in line.split()[:2])
            if key >> 16 == ATTACK_IPC_KEYS:
                found.append((kind, key, identifier))
    return found


def leftover_ipc() -> list[str]:
    """The IPC attack's SysV objects that exist now, as ``shm 0x7a7a0001``."""
    return [f"{kind} {key:#x}" for kind, key, _ in attack_ipc_objects()]


def remove_attack_ipc() -> None:
    """Remove what the IPC attack leaves when its defences are off: its SysV objects, its POSIX queue, its file."""
    libc = ctypes.CDLL(None, use_errno=True)
    removers = {"shm": libc.shmctl, "msg": libc.msgctl, "sem": libc.semctl}
    for kind, _, identifier in attack_ipc_objects():
        removers[kind](identifier, 0, None)  # IPC_RMID
    libc.mq_unlink(b"/attack-ipc")
    Path("/run/lock/attack-ipc-message").unlink(missing_ok=True)


@contextlib.contextmanager
def grading_lock(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The scenarios' lock, held while grading; the folder this session's test processes share.

    Attacks that exhaust the worker user's processes, signal its processes or leave IPC objects behind would
    disturb a grading running beside them (see the README's security section).
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if hasattr(request.config, "workerinput") else base
    with (shared / "grading.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield shared


@pytest.fixture(scope="session")
def attack_outcome(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    with grading_lock(request, tmp_path_factory) as shared:
        done = shared / "attack-outcome.json"
        if not done.exists():
            secret = secrets.token_hex(16)
            SENTINEL.write_text(secret)
            SENTINEL.chmod(0o644)
            before = harness_files()
            attacks = [a for a in ATTACK_LIST if IS_ROOT or not a.root_only]
            reports = grade_all(attacks, Path(shared / "attack-grading"), environment=LIMITS, chunk=40)
            after = harness_files()
            outcome = {
                "reports": reports,
                "changed": sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k)),
                "sentinel": SENTINEL.read_text() == secret if SENTINEL.exists() else False,
                "processes": sorted(running_process_names()),
                "files": sorted(path for a in attacks for path in a.leftover_files if os.path.lexists(path)),
                "purelib": sorted(p.name for p in Path(sysconfig.get_paths()["purelib"]).glob("attack*")),
                "ipc": leftover_ipc(),
            }
            SENTINEL.unlink(missing_ok=True)
            done.write_text(json.dumps(outcome))
    return dict(json.loads(done.read_text()))


@pytest.mark.parametrize("attack", ATTACK_LIST, ids=[a.name for a in ATTACK_LIST])
def test_attack_earns_no_more_than_its_honest_part(attack: Scenario, attack_outcome: dict[str, Any]) -> None:
    if attack.root_only and not IS_ROOT:
        pytest.skip("this defence needs a worker user: run the tests as root")
    report = attack_outcome["reports"][attack.name]
    assert "missing" not in report, report.get("missing")
    validate(report)
    check_outcome(attack, report)
    assert report["execution_time"] <= attack.max_seconds, f"grading took {report['execution_time']} s"
    assert len(json.dumps(report)) < 1 << 20, "the report is larger than 1 MiB"
    if attack.leftover_processes:
        assert attack.leftover_processes not in attack_outcome["processes"], "its processes are still running"
    left = [path for path in attack.leftover_files if path in attack_outcome["files"]]
    assert not left, f"it left {left} behind"


def test_no_attack_changed_the_autograders_files(attack_outcome: dict[str, Any]) -> None:
    assert attack_outcome["changed"] == []
    assert attack_outcome["purelib"] == [], "an attack wrote into the Python installation"


def test_no_attack_left_ipc_objects_behind(attack_outcome: dict[str, Any]) -> None:
    """SysV shared memory, queues and semaphores outlive their processes: none of the IPC attack's may be left."""
    assert attack_outcome["ipc"] == []


@pytest.mark.skipif(not IS_ROOT, reason="a worker running as the grader's own user can write the grader's files")
def test_no_attack_changed_or_removed_a_file_of_the_grader_in_tmp(attack_outcome: dict[str, Any]) -> None:
    assert attack_outcome["sentinel"], "the sentinel in /tmp was changed or removed"


def test_every_attack_report_says_what_confined_it(attack_outcome: dict[str, Any]) -> None:
    for name, report in attack_outcome["reports"].items():
        sandbox = report["extra_data"]["sandbox"]
        assert "network sockets" in sandbox["seccomp"], name
        assert sandbox["limits"]["cpu_seconds"] > 0, name
        if IS_ROOT:
            assert sandbox["user"] == "autograder-worker", name


@pytest.mark.skipif(not IS_ROOT, reason="needs root, to run workers with and without a worker user")
def test_the_disk_attack_succeeds_without_a_worker_user(tmp_path: Path) -> None:
    """The corpus can fail: with student code running as root, reading the reference earns full marks."""
    attack = next(a for a in ATTACK_LIST if a.name == "read_grader_files_from_disk")
    submission = attack.build(tmp_path / "submission")
    command = [sys.executable, "-m", "autograder", "grade", str(submission), "--results", str(tmp_path / "r.json")]
    environment = {**os.environ, **LIMITS, "AUTOGRADER_WORKER_USER": ""}
    subprocess.run([*command, "--problems", "content_loss", "--quiet"], cwd=ROOT, env=environment, check=True, timeout=300)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["score"] == 2.0
    assert "READ THE REFERENCE SOLUTION" in "\n".join(test["output"] for test in report["tests"])
    assert report["extra_data"]["sandbox"]["user"] == "the grader's own user"


@pytest.mark.skipif(not IS_ROOT or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_attacks_hold_without_namespaces_as_in_an_unprivileged_container(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """Gradescope's container allows no namespaces: the seccomp filter and the sweeps must hold alone."""
    names = ("writes_outside_the_working_copy", "network_connection", "fork_storm", IPC_ATTACK, "floods_the_fooling_recordings")
    chosen = [a for a in ATTACK_LIST if a.name in names]
    without_namespaces = ("setpriv", "--bounding-set=-sys_admin")
    with grading_lock(request, tmp_path_factory):
        reports = grade_all(chosen, tmp_path, environment=LIMITS, command_prefix=without_namespaces)
        left = leftover_ipc()
    for attack in chosen:
        report = reports[attack.name]
        check_outcome(attack, report)
        assert report["extra_data"]["sandbox"]["network"].startswith("no network namespace")
        assert report["extra_data"]["sandbox"]["tmp"].startswith("shared")
        assert report["extra_data"]["sandbox"]["ipc"].startswith("no IPC namespace")
        assert "SysV IPC" in report["extra_data"]["sandbox"]["seccomp"]
        assert not [path for path in attack.leftover_files if os.path.lexists(path)]
        assert report["execution_time"] <= attack.max_seconds, f"{attack.name}: grading took {report['execution_time']} s"
    assert "attack-storm" not in running_process_names()
    assert left == []


def test_the_flood_of_recordings_makes_the_grader_run_the_model_on_every_image_without_the_checks(tmp_path: Path) -> None:
    """The corpus can fail: without fooling_image.ascent_path's checks, the grader checks every step of the flood.

    Since the known-mistake hints, a step whose cosine with the gradient is NaN fails the step check at once, a
    second defence against a NaN flood; the wrapper takes that out too. A wrapper takes the checks out of the suite's module (it keeps only the distinct images, as before issue 10)
    and runs the command line in the same interpreter, where pytest finds that module imported, by its name. The
    flood is cut to a few dozen images to keep this short: each step it checks costs a forward and a backward
    of SqueezeNet, and the message that counts the steps shows that every one was checked.
    """
    flood = 60
    attack = next(a for a in ATTACK_LIST if a.name == "floods_the_fooling_recordings")
    submission = attack.build(tmp_path / "submission")
    source = submission / "visualizers" / "fooling_image.py"
    source.write_text(re.sub(r"^FLOOD = \d+", f"FLOOD = {flood}", source.read_text(), count=1, flags=re.M))
    without_the_checks = (
        "import sys\n"
        "from hypothesis import settings\n"
        "from autograder import plugin\n"
        # The suite's @settings take their defaults from the profile loaded when it is imported.
        "settings.load_profile(plugin.PROFILE)\n"
        "from autograder.problems import fooling_image as suite\n"
        "suite.ascent_path = lambda recorded, result, X, what: (tuple(suite.distinct([*recorded, result])), None)\n"
        # The step check now refuses a step whose cosine with the gradient is NaN (a NaN image) at once: take that
        # out too, as it was before the known-mistake hints, so that every image of the flood is checked.
        "suite.step_is_right = lambda move, gradient: (True, suite.LEARNING_RATE, 1.0)\n"
        "from autograder.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    command = [sys.executable, "-c", without_the_checks, "grade", str(submission), "--results", str(tmp_path / "r.json")]
    command += ["--problems", "fooling_image", "--quiet"]
    subprocess.run(command, cwd=ROOT, env={**os.environ, **LIMITS}, check=True, timeout=300)
    report = json.loads((tmp_path / "r.json").read_text())
    tests = {test["number"]: test for test in report["tests"]}
    assert not report["extra_data"]["autograder_failed"]
    assert f"it took {flood + 1} steps, the reference 9" in tests["9.2"]["output"], tests["9.2"]["output"]
    assert f"it took {flood + 1} steps" in tests["9.4"]["output"], tests["9.4"]["output"]
    assert "images were given to the model" not in "\n".join(test["output"] for test in report["tests"])


WITHOUT_IPC_DEFENCES = (
    "import sys\n"
    "from autograder.worker import confine\n"
    "confine._new_ipc_namespace = lambda libc: 'none (a control)'\n"
    "for table in confine._SYSCALLS.values():\n"
    "    for group in ('SysV IPC', 'POSIX message queues', 'keyrings'):\n"
    "        table.refused.pop(group)\n"
    "from autograder.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_the_ipc_attack_succeeds_without_an_ipc_namespace_and_the_filter(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """The corpus can fail: without their own IPC namespace and the filter's refusal, workers talk through IPC.

    A wrapper takes both defences out of ``confine`` and runs the command line in the same interpreter (the
    fork server and the workers are forked from it). The TV loss's worker then reads what the content loss's
    left in SysV and POSIX IPC, and the 900 MiB of SysV segments outlive the grading. They are removed here,
    under the scenarios' lock, so no other grading sees them.
    """
    attack = next(a for a in ATTACK_LIST if a.name == IPC_ATTACK)
    submission = attack.build(tmp_path / "submission")
    command = [sys.executable, "-c", WITHOUT_IPC_DEFENCES, "grade", str(submission), "--results", str(tmp_path / "r.json")]
    with grading_lock(request, tmp_path_factory):
        try:
            subprocess.run(
                [*command, "--problems", "content_loss,tv_loss", "--quiet"], cwd=ROOT, env={**os.environ, **LIMITS}, check=True
            )
            left = leftover_ipc()
        finally:
            remove_attack_ipc()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["extra_data"]["problems"]["tv_loss"]["score"] == 0
    leaked = "\n".join(test["output"] for test in report["tests"] if test["tags"] == ["tv_loss"])
    for channel in ("SysV shared memory", "a SysV message queue", "a SysV semaphore", "a POSIX message queue"):
        assert channel in leaked, leaked[:2000]
    assert sorted(left) == ["msg 0x7a7a0002", "sem 0x7a7a0003", *(f"shm 0x7a7a00{n}" for n in ("01", "11", "12", "13"))]
    assert report["extra_data"]["sandbox"]["ipc"] == "none (a control)"
