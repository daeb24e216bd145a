"""The grader's side of the worker processes: a fork server and one proxy per worker.

:class:`ForkServer` forks the fork server of ``autograder.worker.server`` from
the grader, once torch is imported, and asks it to fork workers. Where no fork
server can be used (macOS, a student's ``check.py --spawn``), :class:`SpawnedWorkers`
starts each worker as a new Python process (``autograder.worker.spawned``)
instead; both are :class:`WorkerHost`. :class:`Worker` is the proxy for one
worker: it sends a request and waits for the reply in a ``select`` loop that
also drains the worker's stdout and stderr, enforces the wall-clock limit, and
notices when the worker dies. A dead worker is an ordinary outcome
(:class:`WorkerDied`), never an unhandled exception; the caller decides what
the student is told. Nothing here imports student code or unpickles anything.
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.settings import Limits
from autograder.worker import server as worker_server
from autograder.worker.confine import Confinement, python_installation
from autograder.worker.frames import Frame, FrameLimits, FrameReader, TooLarge, WireError, pack_frame


class WorkerDied(Exception):
    """The worker is gone or unusable; ``reason`` says how, in words for the student."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


@dataclass
class CapturedOutput:
    """What student code printed, kept up to ``limit`` bytes per test."""

    limit: int
    kept: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def add(self, data: bytes) -> None:
        room = self.limit - len(self.kept)
        self.kept += data[: max(room, 0)]
        self.dropped += max(len(data) - max(room, 0), 0)

    def take(self) -> str:
        """The text captured since the last call, cut short if it was long; resets the capture."""
        text = self.kept.decode("utf-8", errors="replace")
        if self.dropped:
            text += f"\n... ({self.dropped} more bytes of output cut)"
        self.kept = bytearray()
        self.dropped = 0
        return text


class WorkerHost:
    """What starts the workers (:class:`ForkServer`, :class:`SpawnedWorkers`): what :class:`Worker` and the tests use."""

    def __init__(self, confinement: Confinement, start_seconds: float) -> None:
        self.start_seconds = start_seconds
        self.confinement = dataclasses.replace(confinement, keep_visible=python_installation())
        self.sandbox: dict[str, Any] = {}
        """What is in place around workers, as a confined worker reported it (for the reports)."""
        self.workers_dir = Path(tempfile.mkdtemp(prefix="autograder-workers-"))
        """Where working copies go: the grader's, not world-writable, so no sweep of /tmp reaches them."""
        self.workers_dir.chmod(0o711)

    def spawn(self, workdir: Path, course: tuple[str, ...], limits: FrameLimits, output: CapturedOutput) -> Worker:
        """Start a worker in ``workdir`` given the ``course`` parts of the course's code; its output goes to ``output``."""
        raise NotImplementedError

    def wait(self, pid: int) -> str:
        """Reap a worker that was killed or exited; how it ended (``killed by SIGXCPU``, ``exited with status 0``)."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop every worker still running, and remove the working copies."""
        shutil.rmtree(self.workers_dir, ignore_errors=True)


def spawn_request(workdir: Path, course: tuple[str, ...]) -> dict[str, Any]:
    """The request for a worker in ``workdir`` with the ``course`` parts: a fork server's, and a spawned worker's."""
    return {"op": "spawn", "workdir": str(workdir), "course": list(course)}


class ForkServer(WorkerHost):
    """A process forked from the grader once torch is imported; it forks a worker per request."""

    def __init__(
        self, *, course_parts: dict[str, str], confinement: Confinement | None = None, start_seconds: float = 120.0
    ) -> None:
        """``confinement`` defaults to the default limits, without a worker user."""
        super().__init__(confinement or Limits().confinement(), start_seconds)
        worker_server.preload()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._log = tempfile.TemporaryFile(mode="a+b")  # appends: the server shares its offset
        self.pid = os.fork()
        if self.pid == 0:
            ours.close()
            worker_server.serve(theirs, self._log.fileno(), course_parts, worker_environment(), self.confinement.as_json())
        theirs.close()
        self._control = ours

    def spawn(self, workdir: Path, course: tuple[str, ...], limits: FrameLimits, output: CapturedOutput) -> Worker:
        """Fork a worker in ``workdir`` given the ``course`` parts of the course's code; its output goes to ``output``."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_read, out_write = os.pipe()
        try:
            socket.send_fds(self._control, [json.dumps(spawn_request(workdir, course)).encode()], [theirs.fileno(), out_write])
            reply = self._reply(self.start_seconds)
        except (OSError, WorkerDied) as error:
            ours.close()
            os.close(out_read)
            raise WorkerDied(f"the worker could not be started ({error})") from None
        finally:
            theirs.close()
            os.close(out_write)
        return Worker(self, int(reply["pid"]), ours, out_read, limits, output)

    def wait(self, pid: int) -> str:
        """Reap a worker that was killed or exited, and what it left behind; how it ended (``killed by SIGXCPU``)."""
        try:
            self._control.sendall(json.dumps({"op": "wait", "pid": pid}).encode())
            return str(self._reply(30.0).get("status", "ended"))
        except (OSError, WorkerDied):
            return "ended"

    def probe(self, hidden: list[str], readable: list[str]) -> dict[str, Any]:
        """Confine a throwaway worker and ask it what it can reach (see ``autograder.worker.server``)."""
        workdir = Path(tempfile.mkdtemp(prefix="probe-", dir=self.workers_dir))
        hand_over(workdir, self.confinement)
        try:
            request = {"op": "probe", "workdir": str(workdir), "hidden": hidden, "readable": readable}
            self._control.sendall(json.dumps(request).encode())
            return self._reply(self.start_seconds)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _reply(self, seconds: float) -> dict[str, Any]:
        ready, _, _ = select.select([self._control], [], [], seconds)
        if not ready:
            raise WorkerDied(f"the fork server did not answer within {seconds:.0f} s")
        data = self._control.recv(65536)
        if not data:
            raise WorkerDied(f"the fork server stopped: {self.log_tail()}")
        return dict(json.loads(data))

    def log_tail(self, size: int = 2000) -> str:
        self._log.seek(0, os.SEEK_END)
        end = self._log.tell()
        self._log.seek(max(0, end - size))
        return self._log.read().decode("utf-8", errors="replace").strip() or "no output"

    def close(self) -> None:
        """Stop the fork server (it kills the workers still running) and reap it."""
        self._control.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if os.waitpid(self.pid, os.WNOHANG) != (0, 0):
                break
            time.sleep(0.01)
        else:
            _kill_group(self.pid)
            os.waitpid(self.pid, 0)
        self._log.close()
        super().close()


class SpawnedWorkers(WorkerHost):
    """Each worker a new Python process (``python -m autograder.worker.spawned``), where no fork server can be used.

    For macOS (no ``SOCK_SEQPACKET``) and a student's ``check.py --spawn``.
    The worker is the one a fork server forks, with the same wire format: it
    is given the other end of a socket pair and the write end of an output
    pipe (inherited, ``pass_fds``), and a third pipe on which it says, once
    confined and before any student code is imported, what was put in place.
    Each worker imports torch itself, which takes seconds: :meth:`spawn` waits
    up to ``start_seconds`` for it, outside the problem's time limits.

    ``confinement`` defaults to the default limits, unsandboxed (resource
    limits only: no root, no worker user, no seccomp, no namespaces). There is
    no fork server to remove what a worker user leaves in shared folders, so
    a worker user is refused. ``sandbox`` says what is in place, as the last
    worker reported it. A missing file of ``course_parts`` fails only the
    workers given that part, when they start.
    """

    def __init__(
        self, *, course_parts: dict[str, str], confinement: Confinement | None = None, start_seconds: float = 120.0
    ) -> None:
        confinement = confinement or dataclasses.replace(Limits().confinement(), sandboxed=False)
        if confinement.sandboxed and confinement.uid is not None:
            raise ValueError("spawned workers cannot run as a worker user: what it leaves in /tmp would not be removed")
        super().__init__(confinement, start_seconds)
        self.course_parts = dict(course_parts)
        self.environment = {**worker_environment(), "PYTHONPATH": worker_server.HARNESS_ROOT, **_matplotlib_folder()}
        """The new process's: the fixed one, and where the harness and matplotlib's caches are (it imports both)."""
        self.sandbox = {"user": "the grader's own user", "workers": "a new Python process for each problem"}
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    def spawn(self, workdir: Path, course: tuple[str, ...], limits: FrameLimits, output: CapturedOutput) -> Worker:
        """Start a worker in ``workdir`` given the ``course`` parts of the course's code; its output goes to ``output``."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_read, out_write = os.pipe()
        ready_read, ready_write = os.pipe()
        fds = [theirs.fileno(), out_write, ready_write]
        spec = {
            "message": spawn_request(workdir, course),
            "fds": fds,
            "course_parts": self.course_parts,
            "config": self.confinement.as_json(),
            "path": [str(entry) for entry in sys.path],
        }
        try:
            process = subprocess.Popen(
                # -s: no user site-packages of the fixed HOME (the grader's sys.path is in the spec)
                [sys.executable, "-s", "-m", "autograder.worker.spawned", json.dumps(spec)],
                stdin=subprocess.DEVNULL,
                stdout=out_write,
                stderr=out_write,
                pass_fds=fds,
                cwd=self.workers_dir,  # not the submission's folder: -m puts the working directory first on sys.path
                env=self.environment,
            )
        except OSError as error:
            ours.close()
            os.close(out_read)
            os.close(ready_read)
            raise WorkerDied(f"the worker could not be started ({error})") from None
        finally:
            theirs.close()
            os.close(out_write)
            os.close(ready_write)
        self._processes[process.pid] = process
        try:
            applied = self._ready(ready_read, out_read)
        except (OSError, WorkerDied) as error:
            _kill_group(process.pid)
            self.wait(process.pid)
            ours.close()
            os.close(out_read)
            raise error if isinstance(error, WorkerDied) else WorkerDied(f"the worker could not be started ({error})") from None
        finally:
            os.close(ready_read)
        self.sandbox.update(applied)
        return Worker(self, process.pid, ours, out_read, limits, output)

    def _ready(self, ready_fd: int, output_fd: int) -> dict[str, Any]:
        """What the new worker reports once it is confined; :class:`WorkerDied`, with the end of its output, if it is not."""
        said, printed = bytearray(), bytearray()
        watched = [ready_fd, output_fd]
        deadline = time.monotonic() + self.start_seconds
        while True:
            remaining = deadline - time.monotonic()
            readable, _, _ = select.select(watched, [], [], max(remaining, 0))
            if not readable:
                raise WorkerDied(f"the worker could not be started: it was not ready within {self.start_seconds:g} s")
            if output_fd in readable:  # drained, so that the worker never blocks on a full pipe; kept for an error
                data = os.read(output_fd, 1 << 16)
                printed = (printed + data)[-2000:]
                if not data:
                    watched.remove(output_fd)
            if ready_fd in readable:
                data = os.read(ready_fd, 1 << 16)
                said += data
                if data and len(said) <= 1 << 16:
                    continue
                try:
                    return dict(json.loads(said))
                except (ValueError, TypeError):
                    text = printed.decode("utf-8", errors="replace").strip() or "no output"
                    raise WorkerDied(f"the worker could not be started: {text}") from None

    def wait(self, pid: int) -> str:
        """Reap a worker that was killed or exited; how it ended (``killed by SIGXCPU``, ``exited with status 0``)."""
        process = self._processes.pop(pid, None)
        if process is None:
            return "unknown process"
        try:
            return worker_server.ended(process.wait(timeout=30))
        except subprocess.TimeoutExpired:
            _kill_group(pid)
            return worker_server.ended(process.wait())

    def close(self) -> None:
        """Kill and reap the workers still running, and remove the working copies."""
        for pid in list(self._processes):
            _kill_group(pid)
            self.wait(pid)
        super().close()


class Worker:
    """Proxy for one worker process (forked or spawned)."""

    def __init__(
        self, server: WorkerHost, pid: int, sock: socket.socket, output_fd: int, limits: FrameLimits, output: CapturedOutput
    ) -> None:
        self.server = server
        self.pid = pid
        self.sock = sock
        self.sock.setblocking(False)
        self.output_fd = output_fd
        os.set_blocking(output_fd, False)
        self.limits = limits
        self.output = output
        self.alive = True

    def request(self, header: dict[str, Any], buffers: list[bytes], seconds: float) -> Frame:
        """Send one request and return the reply; :class:`WorkerDied` if there is none in time."""
        if not self.alive:
            raise WorkerDied("the worker is no longer running")
        pending = memoryview(b"".join(pack_frame(header, buffers)))
        reader = FrameReader(self.limits)
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerDied(f"took longer than the time limit of {seconds:g} s, so it was stopped", timed_out=True)
            watched: list[Any] = [self.sock, self.output_fd]
            readable, writable, _ = select.select(watched, [self.sock] if pending else [], [], remaining)
            if self.output_fd in readable:
                self._drain_output()
            if writable and pending:
                try:
                    sent = self.sock.send(pending[: 1 << 20])
                except BlockingIOError:
                    sent = 0
                except OSError:
                    raise self._died() from None
                pending = pending[sent:]
            if self.sock in readable:
                try:
                    chunk = self.sock.recv(1 << 20)
                except BlockingIOError:
                    continue
                except OSError:
                    raise self._died() from None
                if not chunk:
                    raise self._died()
                try:
                    frames = reader.feed(chunk)
                except TooLarge as error:
                    self.kill()
                    raise WorkerDied(f"the result was refused as too large: {error}") from None
                except WireError as error:
                    self.kill()
                    raise WorkerDied(f"the worker broke the protocol: {error}") from None
                if frames:
                    self._drain_output()
                    return frames[0]

    def _drain_output(self) -> None:
        while True:
            try:
                data = os.read(self.output_fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                return
            if not data:
                return
            self.output.add(data)

    def _died(self) -> WorkerDied:
        self._drain_output()
        return WorkerDied(describe_end(self.kill(), self.server.confinement))

    def kill(self) -> str:
        """Kill the worker and everything it started; how it ended, in words."""
        if not self.alive:
            return "already stopped"
        self.alive = False
        _kill_group(self.pid)
        status = self.server.wait(self.pid)
        self.sock.close()
        os.close(self.output_fd)
        return status


CRASH_SIGNALS = {
    "SIGSEGV": "a segmentation fault",
    "SIGBUS": "a bus error",
    "SIGILL": "an illegal instruction",
    "SIGFPE": "a floating-point exception",
    "SIGABRT": "an abort",
}


def describe_end(status: str, confinement: Confinement) -> str:
    """Words for a worker that ended on its own, from the fork server's ``killed by SIGXCPU``/``exited with status 0``."""
    signal_name = status.removeprefix("killed by ") if status.startswith("killed by ") else None
    if signal_name == "SIGXCPU":
        return f"it used more than the CPU time limit of {confinement.cpu_seconds} s, so it was stopped (CPU time limit)"
    if signal_name == "SIGXFSZ":
        return f"it wrote a file larger than the limit of {confinement.file_bytes // (1 << 20)} MiB, so it was stopped"
    if signal_name in CRASH_SIGNALS:
        return f"the process running your code crashed ({signal_name}: {CRASH_SIGNALS[signal_name]})"
    if signal_name == "SIGKILL":
        return "the process running your code was killed (SIGKILL), most likely for using more memory than the machine has"
    if signal_name is not None:
        return f"the process running your code was killed ({signal_name})"
    if status.startswith("exited with status"):
        return (
            f"the process running your code ended in the middle of a call ({status}); "
            "does your code call sys.exit, os._exit, exit or quit?"
        )
    return f"the process running your code ended unexpectedly ({status})"


def _matplotlib_folder() -> dict[str, str]:
    """The grader's folder of matplotlib's settings and caches, as ``MPLCONFIGDIR``; none if matplotlib is missing.

    A spawned worker imports matplotlib itself, with the fixed ``HOME``: without its font cache that takes
    seconds each time, and where that ``HOME``'s folder is not writable it leaves a new folder in /tmp each time.
    """
    try:
        import matplotlib

        return {"MPLCONFIGDIR": matplotlib.get_configdir()}
    except Exception:  # noqa: BLE001 - missing or broken: the worker says so when it imports it
        return {}


def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def hand_over(workdir: Path, confinement: Confinement) -> None:
    """Make ``workdir`` the worker user's (the only place it may write); nothing to do without a worker user."""
    if not confinement.sandboxed or confinement.uid is None or os.geteuid() != 0:
        return
    for folder, _, names in os.walk(workdir):
        os.chown(folder, confinement.uid, confinement.gid)  # type: ignore[arg-type]
        for name in names:
            os.chown(os.path.join(folder, name), confinement.uid, confinement.gid)  # type: ignore[arg-type]


def worker_environment() -> dict[str, str]:
    """A small, fixed environment for worker processes: nothing of the grader's leaks in."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "HOME": tempfile.gettempdir(),
    }
