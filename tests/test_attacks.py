"""The adversarial corpus: every attack in tests/attacks earns no more than its honest part.

All attacks are graded once per test session (``grade-class``, in batches,
with short time limits), by whichever pytest process needs them first. Around
that grading the fixture records what must not change: the autograder's own
files, a file of the grader's in /tmp (the sentinel), and, per attack, the
processes and files it tries to leave behind. Attacks marked ``root_only``
test defences that need a worker user, and are skipped when the tests do not
run as root.
"""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def attack_outcome(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if hasattr(request.config, "workerinput") else base
    done = shared / "attack-outcome.json"
    # The scenarios' lock: attacks that exhaust the worker user's processes or signal its
    # processes would disturb a grading running beside them (see the README's security section).
    with (shared / "grading.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
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
def test_attacks_hold_without_namespaces_as_in_an_unprivileged_container(tmp_path: Path) -> None:
    """Gradescope's container allows no namespaces: the seccomp filter and the sweeps must hold alone."""
    chosen = [a for a in ATTACK_LIST if a.name in ("writes_outside_the_working_copy", "network_connection", "fork_storm")]
    for attack in chosen:
        attack.build(tmp_path / "submissions" / attack.name)
    command = [sys.executable, "-m", "autograder", "grade-class", str(tmp_path / "submissions")]
    command += ["--out-dir", str(tmp_path / "reports"), "--problems", "content_loss,tv_loss", "--quiet"]
    without_namespaces = ["setpriv", "--bounding-set=-sys_admin", *command]
    subprocess.run(without_namespaces, cwd=ROOT, env={**os.environ, **LIMITS}, check=True, timeout=300)
    for attack in chosen:
        report = json.loads((tmp_path / "reports" / f"{attack.name}.json").read_text())
        check_outcome(attack, report)
        assert report["extra_data"]["sandbox"]["network"].startswith("no network namespace")
        assert report["extra_data"]["sandbox"]["tmp"].startswith("shared")
        assert not [path for path in attack.leftover_files if os.path.lexists(path)]
    assert "attack-storm" not in running_process_names()


def test_the_flood_of_recordings_makes_the_grader_run_the_model_on_every_image_without_the_checks(tmp_path: Path) -> None:
    """The corpus can fail: without fooling_image.ascent_path's checks, the grader checks every step of the flood.

    A wrapper takes the checks out of the suite's module (it keeps only the distinct images, as before issue 10)
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
