"""The worker boundary: what student code can do to a call, and what the grader makes of it."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import pwd
import re
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from autograder import reference
from autograder.failures import NotImplementedYet, StudentRaised, SubmissionUnusable, WorkerFailure
from autograder.grade import start_fork_server
from autograder.privilege import PrivilegeError
from autograder.problems import COURSE_PARTS
from autograder.reference import source
from autograder.sandbox import CapturedOutput, ForkServer, SpawnedWorkers, WorkerHost
from autograder.settings import Limits
from autograder.student import StudentCode, Target
from autograder.worker.confine import Confinement, sweep_files
from autograder.worker.stand_ins import listed_standard_library
from autograder.worker.wire import Opaque, Ref
from tests.scenarios import ROOT

LIMITS = Limits(call_seconds=3.0, import_seconds=3.0, problem_seconds=30.0, output_bytes=200)
PROBE = Target("probe", "probe")


@pytest.fixture(scope="module")
def server() -> Iterator[ForkServer]:
    fork_server = ForkServer(course_parts={name: str(source(path)) for name, path in COURSE_PARTS.items()})
    yield fork_server
    fork_server.close()


def student(server: WorkerHost, tmp_path: Path, code: str, *, course: tuple[str, ...] = ()) -> StudentCode:
    (tmp_path / "tree").mkdir(parents=True)
    (tmp_path / "tree" / "probe.py").write_text(textwrap.dedent(code))
    return StudentCode(
        problem="probe",
        modules=("probe",),
        course=course,
        submission=tmp_path / "tree",
        unusable=None,
        server=server,
        limits=LIMITS,
        output=CapturedOutput(LIMITS.output_bytes),
    )


def test_results_come_back_as_plain_data(server: ForkServer, tmp_path: Path) -> None:
    code = student(
        server,
        tmp_path,
        """
        import numpy as np, torch
        class Liar(torch.Tensor):
            def __eq__(self, other):
                return True
        def probe(kind):
            return {"tensor": torch.ones(2).as_subclass(Liar), "array": np.zeros(3), "object": object(),
                    "number": 2.5, "nested": (1, [2, None])}[kind]
        """,
    )
    assert code.call(PROBE, "tensor").value == Opaque("probe.Liar"), "a tensor subclass is not a plain result"
    assert torch.equal(code.call(PROBE, "array").value, torch.zeros(3, dtype=torch.float64))
    assert code.call(PROBE, "object").value == Opaque("builtins.object")
    assert code.call(PROBE, "number").value == 2.5
    assert code.call(PROBE, "nested").value == (1, [2, None])
    code.stop()


def test_gradients_come_back_for_the_marked_inputs(server: ForkServer, tmp_path: Path) -> None:
    code = student(
        server,
        tmp_path,
        """
        def probe(a, b, scale):
            return (a * b).sum() * scale
        def detached(a):
            return (a * 2).sum().item()
        """,
    )
    a, b = torch.arange(3.0), torch.ones(3)
    reply = code.call(PROBE, a.clone().requires_grad_(True), b.clone().requires_grad_(True), 2.0, grad=True)
    assert torch.equal(reply.grads[0], 2 * b) and torch.equal(reply.grads[1], 2 * a)
    flat = code.call(Target("probe", "detached"), a.clone().requires_grad_(True), grad=True)
    assert flat.not_differentiable is not None and "float" in flat.not_differentiable
    code.stop()


def test_student_exceptions_carry_their_own_frames(server: ForkServer, tmp_path: Path) -> None:
    code = student(
        server,
        tmp_path,
        """
        def probe(x):
            return helper(x)
        def helper(x):
            raise ValueError(f"bad input {x}")
        def todo():
            raise NotImplementedError
        def leave():
            import sys
            sys.exit(0)
        """,
    )
    with pytest.raises(StudentRaised) as raised:
        code.call(PROBE, 3)
    assert "raised ValueError: bad input 3" in str(raised.value)
    assert 'File "probe.py"' in str(raised.value) and "in helper" in str(raised.value)
    assert "autograder" not in str(raised.value)
    with pytest.raises(NotImplementedYet, match="not implemented yet"):
        code.call(Target("probe", "todo"))
    with pytest.raises(WorkerFailure, match=r"sys\.exit"):
        code.call(Target("probe", "leave"))
    code.stop()


def test_a_hang_costs_the_call_and_the_next_call_gets_a_fresh_worker(server: ForkServer, tmp_path: Path) -> None:
    code = student(
        server,
        tmp_path,
        """
        import time
        state = []
        def probe(seconds):
            state.append(seconds)
            time.sleep(seconds)
            return len(state)
        """,
    )
    assert code.call(PROBE, 0).value == 1
    with pytest.raises(WorkerFailure, match="time limit of 3 s"):
        code.call(PROBE, 60)
    assert code.call(PROBE, 0).value == 1, "the new worker starts from a fresh import"
    assert code.seconds_used >= 3
    code.stop()


@pytest.mark.parametrize(
    "body, message",
    [
        ("import os; os._exit(0)", r"exited with status 0\); does your code call sys.exit, os._exit"),
        ("import ctypes; ctypes.string_at(0)", r"crashed \(SIGSEGV: a segmentation fault\)"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", r"was killed \(SIGKILL\)"),
    ],
)
def test_a_crash_costs_the_call_and_says_how(server: ForkServer, tmp_path: Path, body: str, message: str) -> None:
    code = student(server, tmp_path, f"def probe():\n    {body}\ndef fine():\n    return 1\n")
    with pytest.raises(WorkerFailure, match=message):
        code.call(PROBE)
    assert code.call(Target("probe", "fine")).value == 1
    code.stop()


def test_import_errors_cost_every_call_and_quote_the_error(server: ForkServer, tmp_path: Path) -> None:
    code = student(server, tmp_path, "import torchvision\n")
    for _ in range(2):
        with pytest.raises(SubmissionUnusable) as unusable:
            code.call(PROBE)
        assert "No module named 'torchvision'" in str(unusable.value)
        assert "need no torchvision" in str(unusable.value)
    syntax = student(server, tmp_path / "other", "def probe(:\n")
    with pytest.raises(SubmissionUnusable, match="SyntaxError"):
        syntax.call(PROBE)


def test_a_slow_import_hits_the_import_limit(server: ForkServer, tmp_path: Path) -> None:
    code = student(server, tmp_path, "import time\ntime.sleep(60)\n")
    with pytest.raises(WorkerFailure, match="Time limit: importing your files took longer than the time limit of 3 s"):
        code.call(PROBE)


def test_output_is_captured_and_capped(server: ForkServer, tmp_path: Path) -> None:
    code = student(
        server,
        tmp_path,
        """
        import sys
        def probe():
            print("hello from the student")
            sys.stderr.buffer.write(b"\\xff\\xfe not utf-8\\n")
            print("x" * 100000)
            return 1
        """,
    )
    assert code.call(PROBE).value == 1
    text = code.output.take()
    assert text.startswith("hello from the student")
    assert "\ufffd" in text and "more bytes of output cut" in text
    assert len(text) < 400
    code.stop()


def test_workers_build_models_dtypes_and_course_objects(server: ForkServer, tmp_path: Path) -> None:
    code = student(
        server,
        tmp_path,
        """
        import torch
        def probe(model, dtype, loss, path):
            from PIL import Image
            image = Image.open(path)
            return [sum(p.sum() for p in model.parameters()), torch.zeros(1, dtype=dtype), type(loss).__name__, list(image.size)]
        """,
        course=("ContentLoss",),
    )
    from autograder.worker.models import build_model

    pixels = torch.zeros(4, 6, 3, dtype=torch.uint8)
    total, zeros, loss_name, size = code.call(
        PROBE,
        Ref("model", {"name": "tiny_cnn", "seed": 3, "dtype": "float64"}),
        Ref("dtype", {"name": "float64"}),
        Ref("course", {"name": "ContentLoss"}),
        Ref("image_file", {"name": "picture.png", "pixels": pixels}),
    ).value
    assert float(total) == float(sum(p.sum() for p in build_model("tiny_cnn", 3, torch.float64).parameters()))
    assert zeros.dtype == torch.float64 and loss_name == "ContentLoss" and size == [6, 4]
    code.stop()


@pytest.mark.parametrize("call", ["model(X)", "model.forward(X)", "torch.flatten(model.classifier(model.features(X)), 1)"])
def test_model_inputs_are_recorded_however_the_model_is_called(server: ForkServer, tmp_path: Path, call: str) -> None:
    code = student(
        server,
        tmp_path,
        f"""
        import torch
        def probe(model, X):
            {call}
            X = X + 1
            {call}
        """,
    )
    X = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    for name in ("squeezenet1_1", "tiny_cnn", "squeezenet1_1_features"):
        if name != "squeezenet1_1" and "features" in call:
            continue
        reply = code.call(PROBE, Ref("model", {"name": name, "seed": 0, "dtype": "float64", "record": True}), X)
        (recorded,) = reply.recorded
        assert len(recorded) == 2, f"{call} on {name}: each forward is recorded once, not {len(recorded)} in all"
        assert torch.equal(recorded[0], X) and torch.equal(recorded[1], X + 1)
    code.stop()


def test_a_missing_standard_library_module_is_a_stand_in_that_fails_when_used(server: ForkServer, tmp_path: Path) -> None:
    code = student(
        server,
        tmp_path,
        """
        import os, sys, sysconfig
        STDLIB = sysconfig.get_paths()["stdlib"]
        # As on a Python without python3-tk, whether or not this one has it: the standard
        # library's folder is not searched while tkinter is imported.
        searched = sys.path[:]
        sys.path[:] = [path for path in sys.path if not path.startswith(STDLIB)]
        try:
            from tkinter import Variable
            import tkinter.ttk
        finally:
            sys.path[:] = searched
        from winreg import OpenKey  # not on Linux
        import asyncio.windows_events  # on Linux too, but it fails to import: "win32 only"
        import asyncio
        def probe():
            return [repr(Variable), tkinter.ttk.__name__, asyncio.sleep.__name__]
        def call():
            return Variable(value=1)
        def subclass():
            class Mine(Variable):
                pass
        def submodule():
            return tkinter.ttk.Treeview()
        def windows():
            return OpenKey(0, "Software")
        def library():
            try:
                exec(compile("import msvcrt", os.path.join(STDLIB, "library.py"), "exec"), {})
            except ImportError as error:
                return type(error).__name__
        def third_party():
            import torchvision
        """,
    )
    assert code.call(PROBE).value == [
        "<stand-in for tkinter.Variable: tkinter is not available where grading runs>",
        "tkinter.ttk",
        "sleep",
    ]
    for function, module, used in [
        ("call", "tkinter", "tkinter.Variable"),
        ("subclass", "tkinter", "tkinter.Variable as a base class"),
        ("submodule", "tkinter.ttk", "tkinter.ttk.Treeview"),
        ("windows", "winreg", "winreg.OpenKey"),
    ]:
        with pytest.raises(StudentRaised) as raised:
            code.call(Target("probe", function))
        assert f"raised ModuleNotFoundError: {module} is not available where your code is graded" in str(raised.value)
        assert f"your code uses {used}: remove this use of {module}" in str(raised.value)
    assert code.call(Target("probe", "library")).value == "ModuleNotFoundError", "a library's own import fails as usual"
    with pytest.raises(StudentRaised, match="No module named 'torchvision'"):
        code.call(Target("probe", "third_party"))
    stood_in = [
        module
        for module in ("tkinter", "tkinter.ttk", "winreg", "asyncio.windows_events")
        if any(f"imports {module}," in note for note in code.notes)
    ]
    assert stood_in == ["tkinter", "winreg", "asyncio.windows_events"], code.notes
    code.stop()


COURSE_SEARCH = """
import gc, sys, types, torch

def course_code():
    \"\"\"Every function of the course's code this worker can find, by its qualified name: in sys.modules or through gc.\"\"\"
    found = set()
    for obj in [*gc.get_objects(), *(vars(m).values() for m in list(sys.modules.values()) if m is not None)]:
        for item in (obj if isinstance(obj, type(vars(sys).values())) else [obj]):
            if isinstance(item, types.FunctionType) and item.__code__.co_filename.startswith("<the course's"):
                found.add(item.__qualname__)
            if isinstance(item, type) and item.__module__ == "course":
                found.add(item.__qualname__)
    return sorted(found)

class StyleLoss(torch.nn.Module):
    def forward(self, feats):
        owner = self.gram_matrix.__self__
        return [course_code(), type(owner).__name__, hasattr(owner, "forward"), self.gram_matrix(feats).shape]
"""


def test_workers_are_given_only_the_parts_of_the_course_code_they_use(server: ForkServer, tmp_path: Path) -> None:
    """The style loss's worker holds the course's Gram matrix alone; a worker without course parts holds none."""
    code = student(server, tmp_path / "gram", COURSE_SEARCH, course=("StyleLoss.gram_matrix",))
    found, owner, owner_has_forward, shape = code.call(
        Target("probe", "StyleLoss", "__call__"), torch.ones(1, 2, 3, 3), course_methods={"gram_matrix": "StyleLoss.gram_matrix"}
    ).value
    code.stop()
    assert found == ["gram_matrix"] and shape == (1, 2, 2)
    assert owner == "CourseMethodOwner" and owner_has_forward is False
    code = student(server, tmp_path / "none", COURSE_SEARCH)
    assert code.call(Target("probe", "course_code")).value == []
    code.stop()
    code = student(server, tmp_path / "losses", COURSE_SEARCH, course=("ContentLoss", "StyleLoss", "TotalVariationLoss"))
    assert code.call(Target("probe", "course_code")).value == [
        "ContentLoss",
        "ContentLoss.forward",
        "StyleLoss",
        "StyleLoss.forward",
        "StyleLoss.gram_matrix",
        "TotalVariationLoss",
        "TotalVariationLoss.forward",
    ]
    code.stop()


def test_student_code_cannot_import_from_the_autograders_folder(server: ForkServer, tmp_path: Path) -> None:
    code = student(
        server,
        tmp_path,
        """
        import importlib
        def probe(name):
            try:
                importlib.import_module(name)
            except ImportError:
                return False
            return True
        """,
    )
    assert code.call(PROBE, "reference.style_modules.content_loss").value is False
    assert code.call(PROBE, "bench.grade_reference").value is False
    code.stop()


def test_answers_are_read_from_module_attributes(server: ForkServer, tmp_path: Path) -> None:
    code = student(
        server,
        tmp_path,
        """
        W = (1.0, 2.0)
        PIECES = {2: (6.0, 3.0), -1: [1.5, 3.0]}
        LATER = None
        def __getattr__(name):
            raise KeyError(name)
        """,
    )
    assert code.get("probe", "W") == (1.0, 2.0)
    assert code.get("probe", "PIECES") == {2: (6.0, 3.0), -1: [1.5, 3.0]}
    with pytest.raises(NotImplementedYet, match=r"probe\.LATER is not implemented yet"):
        code.get("probe", "LATER")
    with pytest.raises(StudentRaised, match="KeyError"):
        code.get("probe", "MISSING")
    code.stop()


def test_the_whole_submission_has_a_time_budget(server: ForkServer, tmp_path: Path) -> None:
    code = student(server, tmp_path, "def probe():\n    return 1\n")
    code.deadline = time.monotonic() - 1
    with pytest.raises(WorkerFailure, match="for grading the whole submission is used up"):
        code.call(PROBE)
    code.stop()


CONFINEMENT_PROBE = """
import ctypes, os, platform, resource, socket, sys

def probe(paths):
    seen = {"uid": os.getuid(), "cwd_writable": os.access(os.getcwd(), os.W_OK)}
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.socket(family, socket.SOCK_STREAM).close()
            seen[f"socket{int(family)}"] = "allowed"
        except OSError as error:
            seen[f"socket{int(family)}"] = error.errno
    socket.socketpair().__class__  # local sockets stay allowed
    libc = ctypes.CDLL(None, use_errno=True)
    seen["ptrace"] = libc.ptrace(16, os.getppid(), 0, 0) == 0  # PTRACE_ATTACH
    seen["io_uring"] = libc.syscall(425, 1, ctypes.create_string_buffer(120)) >= 0
    created = 0o1000 | 0o600  # IPC_CREAT: new, private objects, which would outlive the worker
    seen["ipc"] = {
        "shmget": libc.shmget(0, 4096, created) >= 0,
        "msgget": libc.msgget(0, created) >= 0,
        "semget": libc.semget(0, 1, created) >= 0,
        "mq_open": libc.mq_open(b"/confinement-probe", 0o100 | 0o2, 0o600, None) >= 0,
        "add_key": libc.syscall({"x86_64": 248, "aarch64": 217}[platform.machine()], b"user", b"probe", b"x", 1, -4) >= 0,
    }
    seen["processes"] = sorted(int(entry) for entry in os.listdir("/proc") if entry.isdigit())
    seen["limits"] = {name: resource.getrlimit(getattr(resource, name))[0]
                      for name in ("RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_AS")}
    seen["readable"] = []
    for path in paths:
        try:
            open(path, "rb").close()
            seen["readable"].append(path)
        except OSError:
            pass
    return seen
"""


def test_workers_are_confined(tmp_path: Path) -> None:
    limits = Limits(cpu_seconds=77, file_bytes=5 << 20, open_files=99)
    confined = start_fork_server(limits, solution_in_memory_allowed=True)
    try:
        code = student(confined, tmp_path, CONFINEMENT_PROBE)
        secret = str(ROOT / "reference" / "answers.py")
        seen = code.call(PROBE, [secret, "/etc/hostname"]).value
        code.stop()
    finally:
        confined.close()
    assert seen["socket2"] == seen["socket10"] == errno.EACCES
    assert seen["ptrace"] is False and seen["io_uring"] is False
    assert not any(seen["ipc"].values()), f"IPC objects that outlive the worker could be made: {seen['ipc']}"
    assert seen["limits"]["RLIMIT_CPU"] == 77 and seen["limits"]["RLIMIT_FSIZE"] == 5 << 20
    assert seen["limits"]["RLIMIT_NOFILE"] == 99 and 0 < seen["limits"]["RLIMIT_AS"] < 1 << 40
    assert seen["cwd_writable"]
    assert confined.sandbox["seccomp"].startswith("network sockets")
    if os.geteuid() == 0:
        assert seen["uid"] == pwd.getpwnam("autograder-worker").pw_uid
        assert seen["readable"] == ["/etc/hostname"], "the worker user can read the reference solution"
        assert confined.sandbox["user"] == "autograder-worker"
        if confined.sandbox["proc"].startswith("private"):
            assert os.getpid() not in seen["processes"], "the worker user can see the grader's processes"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to own files as another user")
def test_what_a_worker_left_in_shared_folders_is_removed(tmp_path: Path) -> None:
    """Where a worker cannot have a private /tmp, its new files there are removed after the problem, and only those."""
    worker_uid = 54321
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    nested = shared / "world-writable"
    nested.mkdir()
    nested.chmod(0o1777)
    (shared / "the-graders.txt").write_text("not the worker's")
    old = shared / "old.txt"
    old.write_text("the worker's, from before this worker")
    os.chown(old, worker_uid, worker_uid)
    time.sleep(0.1)
    since = time.time() - 0.05  # a file's times come from a coarser clock, which can lag time.time() (the server allows 1 s)
    for path in (shared / "left.txt", shared / "folder", nested / "deep.txt"):
        if path.name == "folder":
            path.mkdir()
            (path / "inside.txt").write_text("x")
        else:
            path.write_text("x")
        os.chown(path, worker_uid, worker_uid)
    removed = sweep_files(worker_uid, since, roots=(str(shared),))
    assert removed == 3
    assert sorted(p.name for p in shared.rglob("*")) == ["old.txt", "the-graders.txt", "world-writable"]


def test_gpu_workers_get_no_address_space_limit() -> None:
    """CUDA reserves tens of GiB of address space when it starts: a limit on it would fail every GPU worker."""
    for device, limited in (("cpu", True), ("cuda", False)):
        server = start_fork_server(Limits(), device, solution_in_memory_allowed=True)
        try:
            assert ("address_space" in server.sandbox["limits"]) is limited, device
        finally:
            server.close()


def test_workers_forked_with_the_solution_in_memory_are_refused() -> None:
    """The grader forks its workers before it imports the reference; a fork server that holds it is refused."""
    reference.module("style_modules.content_loss")  # this test process imports the reference (the suites do)
    with pytest.raises(PrivilegeError, match=r"the reference solution \(.*style_modules.content_loss"):
        start_fork_server(Limits()).close()


HOSTILE_WORKER = """
import struct, sys
frames = sys.modules["autograder.worker.frames"]
send = frames.send_frame
hostile = []

def send_frame(sock, header, buffers=()):
    # The reply to the call that set it is the raw header given, then `pad` zero bytes for its buffers.
    if not hostile:
        return send(sock, header, buffers)
    raw, pad = hostile.pop()
    data = raw.encode()
    sock.sendall(struct.pack(">I", len(data)) + data + bytes(pad))

frames.send_frame = send_frame

def probe(raw, pad, *inputs):
    hostile.append((raw, pad))
    return 1.0
"""
DEEP = "[" * 100_000 + "]" * 100_000


def tensor_node(shape: str, dtype: str = '"float32"') -> str:
    return f'{{"$tensor": 0, "dtype": {dtype}, "shape": [{shape}], "kind": "tensor"}}'


def ok_reply(result: str, buffers: str = "[]", **fields: str) -> str:
    extra = "".join(f', "{key}": {value}' for key, value in fields.items())
    return f'{{"status": "ok", "result": {result}, "buffers": {buffers}{extra}}}'


@pytest.mark.parametrize(
    "raw, pad, message",
    [
        (ok_reply(DEEP), 0, "broke the protocol: a message header nested more than 256 levels deep"),
        (
            ok_reply(tensor_node("0, 9223372036854775808"), "[0]"),
            0,
            "malformed reply: a tensor of shape [0, 9223372036854775808]",
        ),
        (ok_reply("[" * 70 + "]" * 70), 0, "malformed reply: a value nested more than 64 levels deep"),
        (ok_reply(tensor_node("1", '["float32"]'), "[4]"), 4, "malformed reply: unsupported tensor dtype ['float32']"),
        ('{"status": "error", "error": 5}', 0, "malformed reply: an error report that is a number, not an object"),
        ('{"status": "error", "error": {"type": ["ValueError"]}}', 0, "whose 'type' is a list of 1 items, not text"),
        ('{"status": ["ok"], "result": 1.0}', 0, "malformed reply: unexpected reply status a list of 1 items"),
        ('{"status": "protocol_error", "reason": "no"}', 0, "malformed reply: unexpected reply status 'protocol_error'"),
        ('{"status": "not_differentiable", "reason": {"a": 1}, "result": 1.0}', 0, "its 'reason' is a dict of 1 items, not text"),
        ('{"status": "harness_error", "reason": 5}', 0, "malformed reply: its 'reason' is a number, not text"),
    ],
    ids=[
        "deep header",
        "huge shape",
        "deep value",
        "dtype list",
        "error number",
        "error type list",
        "status list",
        "unknown status",
        "reason dict",
        "harness reason number",
    ],
)
def test_a_hostile_reply_is_the_submissions_failure(server: ForkServer, tmp_path: Path, raw: str, pad: int, message: str) -> None:
    """Whatever student code makes the worker send back fails the submission, in the grader's words, and no more."""
    code = student(server, tmp_path, HOSTILE_WORKER)
    with pytest.raises(WorkerFailure, match=re.escape(message)) as failure:
        code.call(PROBE, raw, pad)
    assert "malformed reply" in str(failure.value) or "broke the protocol" in str(failure.value)
    assert code.call(PROBE, '{"status": "ok", "result": 2.0}', 0).value == 2.0, "the next call gets a fresh worker"
    code.stop()


@pytest.mark.parametrize(
    "grads, pad, message",
    [
        ("{}", 0, "its 'grads' is a dict of 0 items, not a list of 1"),
        ("[]", 0, "its 'grads' is a list of 0 items, not a list of 1"),
        ('["a string"]', 0, "gradient 1 is a string, not a tensor of its input's shape (2, 3)"),
        (f"[{tensor_node('1')}]", 4, "gradient 1 is a tensor of shape (1,), not a tensor of its input's shape (2, 3)"),
    ],
)
def test_gradients_must_be_tensors_of_the_inputs_shapes(
    server: ForkServer, tmp_path: Path, grads: str, pad: int, message: str
) -> None:
    code = student(server, tmp_path, HOSTILE_WORKER)
    raw = ok_reply("1.0", f"[{pad}]" if pad else "[]", grads=grads)
    with pytest.raises(WorkerFailure, match=re.escape(f"malformed reply: {message}")):
        code.call(PROBE, raw, pad, torch.ones(2, 3, requires_grad=True), torch.ones(2), grad=True)
    code.stop()


@pytest.mark.parametrize(
    "recorded, message",
    [
        (None, "its 'recorded' is a list of 0 items, not a list of 1"),
        ("[]", "its 'recorded' is a list of 0 items, not a list of 1"),
        ("[[], []]", "its 'recorded' is a list of 2 items, not a list of 1"),
        ("[5]", "a recording of a model's inputs that is not a list of tensors"),
        ('[["image"]]', "a recording of a model's inputs that is not a list of tensors"),
    ],
)
def test_recordings_must_be_one_list_of_tensors_per_recorded_model(
    server: ForkServer, tmp_path: Path, recorded: str | None, message: str
) -> None:
    code = student(server, tmp_path, HOSTILE_WORKER)
    raw = ok_reply("1.0") if recorded is None else ok_reply("1.0", recorded=recorded)
    model = Ref("model", {"name": "tiny_cnn", "seed": 0, "dtype": "float64", "record": True})
    with pytest.raises(WorkerFailure, match=re.escape(f"malformed reply: {message}")):
        code.call(PROBE, raw, 0, model)
    code.stop()


def test_a_failure_of_the_workers_own_code_is_the_submissions_and_quotes_little(server: ForkServer, tmp_path: Path) -> None:
    """Student code runs beside the worker's code: nothing the worker reports can show that the grader failed."""
    code = student(server, tmp_path, HOSTILE_WORKER)
    reason = "OSError: disk quota exceeded on the grading host " + "x" * 5000
    with pytest.raises(WorkerFailure) as failure:
        code.call(PROBE, json.dumps({"status": "harness_error", "reason": reason}), 0)
    text = str(failure.value)
    assert text.startswith("The process that runs your code failed outside your functions while running probe")
    assert "disk quota exceeded on the grading host" in text and len(text) < 700
    code.stop()


def test_an_exit_with_an_unprintable_code_is_the_submissions_failure(server: ForkServer, tmp_path: Path) -> None:
    code = student(
        server,
        tmp_path,
        """
        class Unprintable:
            def __repr__(self):
                raise RuntimeError("disk quota exceeded on the grading host")
            __str__ = __repr__
        def probe():
            raise SystemExit(Unprintable())
        def fine():
            return 1
        """,
    )
    with pytest.raises(WorkerFailure):
        code.call(PROBE)
    assert code.call(Target("probe", "fine")).value == 1
    code.stop()


def test_the_problems_budget_counts_the_graders_own_time_between_calls(server: ForkServer, tmp_path: Path) -> None:
    code = student(server, tmp_path, "def probe():\n    return 1\n")
    code.limits = dataclasses.replace(LIMITS, problem_seconds=1.0)
    assert code.seconds_used == 0.0
    assert code.call(PROBE).value == 1
    code.check_budget()
    time.sleep(1.05)  # the grader's own checks, between two calls
    assert code.seconds_used >= 1.0
    with pytest.raises(WorkerFailure, match="The time budget of 1 s for this problem is used up"):
        code.check_budget()
    with pytest.raises(WorkerFailure, match="The time budget of 1 s for this problem is used up"):
        code.call(PROBE)
    code.stop()


UNSANDBOXED = dataclasses.replace(Limits(cpu_seconds=77, file_bytes=5 << 20, open_files=99).confinement(), sandboxed=False)


@pytest.fixture(scope="module", params=["forked", "spawned"])
def unsandboxed(request: pytest.FixtureRequest) -> Iterator[WorkerHost]:
    """Workers as a student's own check runs them: resource limits only, forked by a fork server or each a new process."""
    parts = {name: str(source(path)) for name, path in COURSE_PARTS.items()}
    kind = ForkServer if request.param == "forked" else SpawnedWorkers
    host = kind(course_parts=parts, confinement=UNSANDBOXED)
    yield host
    host.close()


UNSANDBOXED_PROBE = """
import os, resource, socket

def status(field):
    with open("/proc/self/status") as stream:
        return next(line.split()[1] for line in stream if line.startswith(field + ":"))

def probe():
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()  # no seccomp filter refuses it
    return {
        "uid": os.getuid(),
        "network": os.readlink("/proc/self/ns/net"),
        "mounts": os.readlink("/proc/self/ns/mnt"),
        "seccomp": status("Seccomp"),
        "no_new_privs": status("NoNewPrivs"),
        "limits": [resource.getrlimit(getattr(resource, name))[0] for name in ("RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE")],
    }
"""


def test_an_unsandboxed_worker_answers_under_the_resource_limits_alone(unsandboxed: WorkerHost, tmp_path: Path) -> None:
    code = student(unsandboxed, tmp_path, UNSANDBOXED_PROBE, course=("ContentLoss",))
    seen = code.call(PROBE).value
    code.stop()
    assert seen == {
        "uid": os.getuid(),
        "network": os.readlink("/proc/self/ns/net"),
        "mounts": os.readlink("/proc/self/ns/mnt"),
        "seccomp": "0",
        "no_new_privs": "0",
        "limits": [77, 5 << 20, 99],
    }
    applied = unsandboxed.probe([], [])["applied"] if isinstance(unsandboxed, ForkServer) else unsandboxed.sandbox
    assert applied["sandboxed"] is False and applied["limits"]["cpu_seconds"] == 77
    assert "processes" not in applied["limits"], "a process count needs a worker user"
    assert not {"seccomp", "network", "ipc", "tmp", "proc"} & set(applied), applied
    assert applied.get("user", "the grader's own user") == "the grader's own user"


def test_an_unsandboxed_worker_that_hangs_is_stopped_by_the_time_limit(unsandboxed: WorkerHost, tmp_path: Path) -> None:
    code = student(unsandboxed, tmp_path, "def probe(loop):\n    while loop:\n        pass\n    return 1\n")
    with pytest.raises(WorkerFailure, match="time limit of 3 s"):
        code.call(PROBE, True)
    assert code.call(PROBE, False).value == 1, "the next call gets a fresh worker"
    code.stop()


def test_an_unsandboxed_worker_that_crashes_costs_one_call(unsandboxed: WorkerHost, tmp_path: Path) -> None:
    code = student(unsandboxed, tmp_path, "def probe():\n    import ctypes; ctypes.string_at(0)\ndef fine():\n    return 1\n")
    with pytest.raises(WorkerFailure, match=r"crashed \(SIGSEGV: a segmentation fault\)"):
        code.call(PROBE)
    assert code.call(Target("probe", "fine")).value == 1
    code.stop()


def test_a_spawned_worker_that_cannot_start_says_why(tmp_path: Path) -> None:
    """A worker that fails before it is ready (here: its course file is gone) costs the spawn, with its own words."""
    course = tmp_path / "course.py"
    course.write_text("class ContentLoss:\n    pass\n")
    host = SpawnedWorkers(course_parts={"ContentLoss": str(course)}, confinement=UNSANDBOXED, start_seconds=60)
    try:
        course.unlink()
        with pytest.raises(WorkerFailure, match=r"could not be run: the worker could not be started: .*course\.py"):
            student(host, tmp_path, "def probe():\n    return 1\n", course=("ContentLoss",)).call(PROBE)
        assert host.sandbox == {"user": "the grader's own user", "workers": "a new Python process for each problem"}
    finally:
        host.close()


def test_an_unsandboxed_confinement_travels_as_json() -> None:
    again = Confinement.from_json(json.loads(json.dumps(UNSANDBOXED.as_json())))
    assert again == UNSANDBOXED and again.sandboxed is False
    assert Confinement.from_json({k: v for k, v in UNSANDBOXED.as_json().items() if k != "sandboxed"}).sandboxed is True


def test_the_standard_library_is_listed_where_python_does_not_name_it() -> None:
    """Python 3.9 has no sys.stdlib_module_names: its folders and the modules a build may lack stand in for it."""
    listed = listed_standard_library()
    assert {"os", "json", "asyncio", "tkinter", "winreg", "msvcrt", "sqlite3", "lzma"} <= listed
    assert len(set(sys.stdlib_module_names) - listed) < 0.1 * len(sys.stdlib_module_names)
    assert not {"torch", "numpy", "pytest"} & listed
