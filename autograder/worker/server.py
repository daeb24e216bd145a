"""The worker side: a fork server, and the children it forks to run student code.

The grader calls :func:`preload` (imports of torch, numpy, scipy, PIL,
matplotlib with the Agg backend, and a warm-up of torch's lazy set-up), then
forks; the new process calls :func:`serve` and becomes the fork server. Its
memory is the grader's, shared copy-on-write, so torch is in memory once. It
knows where the course's code is, and waits on its control socket.
For every problem the grader asks it to fork a child. The child gets its own session (so the grader
can kill it and everything it started with one signal), its own copy of the
submission as working directory, stdout and stderr on a pipe the grader
drains, and a socket for requests. It imports the problem's student modules
and answers requests until the socket closes.

Control messages (grader -> fork server, on the control socket)::

    {"op": "spawn", "workdir": str, "course": [str]}
        + two file descriptors (request socket, output pipe)   -> {"pid": int}
        ("course" names the parts of the course's code the child may use, a
        class or a single method such as ``StyleLoss.gram_matrix``; the child
        compiles these, and only these, before it is confined and before any
        student code is imported: no other worker has them in memory, and
        none has a whole module of the solution; see
        :mod:`autograder.worker.course`)
    {"op": "wait", "pid": int}                             -> {"status": str, "swept": int}
        (reaps the worker, then kills what it left behind and, with a
        worker user, removes its files from the world-writable folders,
        ``confine.WORLD_WRITABLE``)
    {"op": "probe", "workdir": str, "hidden": [str], "readable": [str]}
                                                           -> {"applied": {...}, "exposed": [str],
                                                               "unreadable": [str], "error": str|null}
        (a throwaway worker, confined as every worker is, reports what was
        put in place, which ``hidden`` files it can open, which
        ``readable`` folders it cannot list, and ``solution_in_memory``: the
        modules of the reference solution it finds in its memory, which
        must be none)

Requests (grader -> child) and their replies::

    {"op": "import", "modules": [str]}    -> {"status": "ok"}
                                          |  {"status": "error", "error": {...}}
    {"op": "get", "module": str, "name": str}
                                          -> {"status": "ok", "result": value}
                                          |  {"status": "error", "error": {...}}
    {"op": "call", "target": {...}, "args": [...], "kwargs": {...},
     "seed": int|null, "default_dtype": str|null, "device": "cpu"|"cuda",
     "grad": bool, "cotangent": value|null, "course_methods": {...}}
                                          -> {"status": "ok", "result": value, "grads": [...],
                                              "recorded": [[tensor, ...], ...]}
                                          |  {"status": "error", "error": {...}}
                                          |  {"status": "not_differentiable", "reason": str}
                                          |  {"status": "harness_error", "reason": str}
        (harness_error: the worker's own code failed, preparing the inputs
        on the device, say: not the student's doing)

Any reply may also hold ``"stood_in": [str]``: the standard-library modules
that this Python lacks, which the submission's files imported since the
previous reply and got as stand-ins that fail when used (see
:mod:`autograder.worker.stand_ins`).

Where no fork server can be used, each worker is a new Python process
instead (:mod:`autograder.worker.spawned`), which runs the same
:func:`_run_child` after importing what :func:`preload` imports.

Only ``autograder.worker`` modules are imported here; nothing of the grader.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import random
import resource
import signal
import socket
import sys
import tempfile
import time
import traceback
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from autograder.worker.stand_ins import StandInFinder

MAX_ERROR_CHARS = 4000
HARNESS_ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir))


# --------------------------------------------------------------------------- fork server


def preload() -> None:
    """Import what every problem needs, while the process is trusted and has one thread.

    Called in the grader before it forks the fork server. Idempotent.
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    import numpy  # noqa: F401
    import torch

    torch.set_num_threads(1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot
    import PIL.Image  # noqa: F401
    import scipy.ndimage  # noqa: F401

    from autograder.worker import course, frames, models, stand_ins, wire  # noqa: F401

    _warm_up(torch)


def serve(
    control: socket.socket, log_fd: int, course_parts: dict[str, str], environment: dict[str, str], config: dict[str, Any]
) -> NoReturn:
    """Become the fork server, in a process just forked from the grader; never returns.

    ``course_parts`` maps each part of the course's code a worker may be given
    (``"StyleLoss.gram_matrix"``) to the reference file it is cut from.
    """
    code = 0
    try:
        from autograder.worker import confine

        os.setsid()
        confine.become_subreaper()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        descriptor = control.detach()
        if descriptor != 3:
            os.dup2(descriptor, 3)
            os.close(descriptor)
        os.closerange(4, _max_fd())
        control = socket.socket(fileno=3)
        os.environ.clear()
        os.environ.update(environment)
        missing = [path for path in course_parts.values() if not os.path.isfile(path)]
        if missing:
            raise FileNotFoundError(f"the course's files are not found: {missing}")
        _serve_forever(control, course_parts, confine.Confinement.from_json(config))
    except BaseException:  # noqa: BLE001 - the fork server must never return into the grader's code
        traceback.print_exc()
        code = 70
    finally:
        os._exit(code)


def _max_fd() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if 0 < soft < 1 << 20 else 1 << 16


def _serve_forever(control: socket.socket, course: dict[str, str], config: Any) -> None:
    from autograder.worker import confine

    children: set[int] = set()
    started: dict[int, float] = {}
    try:
        while True:
            try:
                message, fds = _recv_control(control)
            except (ConnectionError, OSError, ValueError):
                return
            if message is None:
                return
            if message.get("op") == "spawn":
                pid = os.fork()
                if pid == 0:
                    control.close()
                    _run_child(message, fds, course, config)
                for fd in fds:
                    os.close(fd)
                children.add(pid)
                started[pid] = time.time()
                _send_control(control, {"pid": pid})
            elif message.get("op") == "wait":
                pid = int(message["pid"])
                status = _wait(pid) if pid in children else "unknown process"
                children.discard(pid)
                swept = confine.sweep_processes(keep=children)
                if config.sandboxed and config.uid is not None and os.geteuid() == 0:
                    swept += confine.sweep_files(config.uid, since=started.pop(pid, 0.0) - 1.0)
                _send_control(control, {"status": status, "swept": swept})
            elif message.get("op") == "probe":
                _send_control(control, _probe(message, config))
    finally:
        for pid in children:
            try:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass


def _probe(message: dict[str, Any], config: Any) -> dict[str, Any]:
    """Confine a throwaway child as a worker and report what it can reach (see the module's docstring)."""
    from autograder.worker import confine

    workdir = str(message["workdir"])
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            report: dict[str, Any] = {"error": None}
            try:
                os.chdir(workdir)
                report["applied"] = confine.confine(config, workdir)
                report["exposed"] = [path for path in message.get("hidden", []) if _can_open(path)]
                report["unreadable"] = [path for path in message.get("readable", []) if not _can_list(path)]
                report["solution_in_memory"] = _solution_modules()
            except BaseException as error:  # noqa: BLE001 - reported to the grader, which stops
                report["error"] = f"{type(error).__name__}: {error}"
            os.write(write_end, json.dumps(report).encode()[:60000])
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    try:
        return dict(json.loads(b"".join(chunks) or b"{}"))
    except ValueError:
        return {"error": "the probe sent back no report"}


def _solution_modules() -> list[str]:
    """The modules of the reference solution in this process's memory (forked from the grader's): there must be none."""
    solution = os.path.join(HARNESS_ROOT, "reference") + os.sep
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if os.path.realpath(str(getattr(module, "__file__", None) or "")).startswith(solution)
    )


def _can_open(path: str) -> bool:
    try:
        with open(path, "rb") as stream:
            stream.read(1)
        return True
    except OSError:
        return False


def _can_list(path: str) -> bool:
    try:
        os.listdir(path)
        return True
    except OSError:
        return False


def _warm_up(torch: Any) -> None:
    """Run each kind of work once, so that torch's lazy imports and first-use set-up happen here, once.

    Tiny tensors on one thread: no thread pool is started, so forking stays safe.
    In a build of torch with CUDA, autograd is left alone: its first backward
    starts a thread per device type and queries CUDA, and a process forked
    after that cannot use autograd at all ("Unable to handle autograd's
    threading in combination with fork-based multiprocessing").
    """
    image = torch.ones(1, 3, 5, 5, requires_grad=True)
    conv = torch.nn.Conv2d(3, 2, 3)
    features = torch.nn.functional.max_pool2d(torch.relu(conv(image)), 2, ceil_mode=True)
    flat = features.reshape(1, 2, -1)
    loss = torch.bmm(flat, flat.transpose(1, 2)).sum() + torch.einsum("nchw->", features)
    optimizer = torch.optim.Adam([image], lr=0.1)
    if torch.version.cuda is None:
        torch.autograd.grad(loss, image, retain_graph=True)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def _recv_control(control: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    message, fds, _flags, _addr = socket.recv_fds(control, 65536, 8)
    if not message:
        return None, []
    return json.loads(message.decode("utf-8")), list(fds)


def _send_control(control: socket.socket, message: dict[str, Any]) -> None:
    control.sendall(json.dumps(message).encode("utf-8"))


def _wait(pid: int) -> str:
    _, status = os.waitpid(pid, 0)
    return ended(os.waitstatus_to_exitcode(status))


def ended(exit_code: int) -> str:
    """How a process ended, from its exit code as ``subprocess`` gives it (``-11``: ``killed by SIGSEGV``)."""
    if exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = f"signal {-exit_code}"
        return f"killed by {name}"
    return f"exited with status {exit_code}"


# --------------------------------------------------------------------------- child


def _run_child(message: dict[str, Any], fds: list[int], course_parts: dict[str, str], config: Any) -> None:
    """Become a worker for one problem; never returns.

    ``fds`` are the request socket and the output pipe, and may hold a third:
    a pipe on which the worker, once confined and before any student code is
    imported, writes what :func:`confine.confine` put in place (as JSON) and
    which it then closes (a spawned worker says so that it is ready; see
    :mod:`autograder.worker.spawned`).
    """
    code = 0
    try:
        request_fd, output_fd, *ready = fds
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.close(devnull)
        os.close(output_fd)
        sys.stdout = _text_stream(1)
        sys.stderr = _text_stream(2)
        workdir = message["workdir"]
        os.chdir(workdir)
        # Student code imports from its own copy and the installed packages, never from the
        # autograder's folder (where the reference solution lives).
        sys.path[:] = [workdir, *(p for p in sys.path if p and os.path.realpath(p) != HARNESS_ROOT)]
        sys.dont_write_bytecode = True
        allowed = set(message.get("course", []))
        from autograder.worker import confine, stand_ins
        from autograder.worker import course as course_code

        course = course_code.load_parts({name: path for name, path in course_parts.items() if name in allowed})

        applied = confine.confine(config, workdir)
        import torch

        # Same numbers from run to run on a GPU (no effect on the CPU, and CUDA is not initialised here).
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        # Before any student module is imported; it serves only imports written in the submission's files.
        finder = stand_ins.StandInFinder(workdir)
        finder.install()
        for ready_fd in ready:
            _write_all(ready_fd, json.dumps(applied).encode("utf-8"))
            os.close(ready_fd)
        Child(socket.socket(fileno=request_fd), workdir, course, finder).serve()
    except BaseException as error:  # noqa: BLE001 - the child must never return into the server loop
        code = 70
        try:
            os.write(2, f"autograder: the worker failed: {type(error).__name__}: {error}\n".encode()[:2000])
        except OSError:
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class Child:
    """Answers requests for one problem, in a process that runs student code."""

    def __init__(self, sock: socket.socket, workdir: str, course: dict[str, Any], stand_ins: StandInFinder | None = None) -> None:
        from autograder.worker import frames, wire

        self.frames = frames
        self.wire = wire
        self.sock = sock
        self.workdir = os.path.realpath(workdir)
        self.course = course
        self.scratch = tempfile.mkdtemp(prefix="scratch-", dir=self.workdir)
        self.device = "cpu"
        self.recordings: list[list[Any]] = []
        self.instance: Any = None
        self.stand_ins = stand_ins
        """What stands in for missing standard-library modules here; its news goes out with each reply."""

    def serve(self) -> None:
        while True:
            frame = self.frames.recv_frame(self.sock)
            if frame is None:
                return
            header, buffers = self._handle(frame)
            _flush_output()
            if self.stand_ins is not None and (stood_in := self.stand_ins.newly_stood_in()):
                header = {**header, "stood_in": stood_in}
            self.frames.send_frame(self.sock, header, buffers)

    def _handle(self, frame: Any) -> tuple[dict[str, Any], list[bytes]]:
        request = frame.header
        op = request.get("op")
        if op == "import":
            for module in request.get("modules", []):
                try:
                    importlib.import_module(module)
                except BaseException as error:  # noqa: BLE001 - student code may raise anything
                    return {"status": "error", "error": self._describe(error, during=f"importing {module}")}, []
            return {"status": "ok"}, []
        if op == "call":
            try:
                return self._call(request, frame.buffers)
            except Exception as error:  # noqa: BLE001 - the worker's own failure, reported instead of dying
                return {"status": "harness_error", "reason": f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]}, []
            finally:
                self._forget_instance()
        if op == "get":
            return self._get(request)
        return {"status": "protocol_error", "reason": f"unknown op {op!r:.40}"}, []

    # ----------------------------------------------------------------- calls

    def _call(self, request: dict[str, Any], buffers: list[bytearray]) -> tuple[dict[str, Any], list[bytes]]:
        import torch

        wire = self.wire
        leaves: dict[int, torch.Tensor] = {}

        def resolve(ref: dict[str, Any]) -> Any:
            return self._resolve(ref, buffers)

        def decode(node: Any) -> Any:
            return wire.decode_value(node, buffers, resolve_ref=resolve)

        self.device = str(request.get("device") or "cpu")
        self.recordings = []
        args = self._to_device(decode(request.get("args", [])))
        kwargs = self._to_device(decode(request.get("kwargs", {"$dict": {}})))
        cotangent = self._to_device(decode(request["cotangent"])) if request.get("cotangent") is not None else None
        self._collect_leaves((args, kwargs), leaves)
        target = request["target"]
        try:
            function = self._target(target, request.get("course_methods", {}))
            seed = request.get("seed")
            if seed is not None:
                torch.manual_seed(seed)
                random.seed(seed)
                import numpy

                numpy.random.seed(seed % (2**32))
            previous_dtype = torch.get_default_dtype()
            if request.get("default_dtype"):
                torch.set_default_dtype(wire.DTYPES[request["default_dtype"]])
            try:
                result = function(*args, **kwargs)
            finally:
                torch.set_default_dtype(previous_dtype)
        except BaseException as error:  # noqa: BLE001 - student code may raise anything, SystemExit included
            return {"status": "error", "error": self._describe(error, during=_target_name(target))}, []
        out: list[bytes] = []
        header: dict[str, Any] = {"status": "ok"}
        try:
            if request.get("grad"):
                grads = self._gradients(result, [leaves[i] for i in sorted(leaves)], cotangent)
                if isinstance(grads, str):
                    return {"status": "not_differentiable", "reason": grads, "result": self._encode(result, out)}, out
                header["grads"] = [wire.encode_value(g, out) for g in grads]
            header["result"] = self._encode(result, out)
            if self.recordings:
                header["recorded"] = [wire.encode_value(recording, out) for recording in self.recordings]
        except BaseException as error:  # noqa: BLE001 - a hostile result may raise anywhere
            return {"status": "error", "error": self._describe(error, during="sending the result back")}, []
        return header, out

    def _forget_instance(self) -> None:
        """Drop what the call's instance kept (Grad-CAM keeps hooked activations on ``self``).

        Its hooks close over the instance, whose activations hold an autograd
        graph that holds the model and the hooks: a cycle through C++ objects
        that the garbage collector cannot see, which would keep every model
        of every call alive.
        """
        instance, self.instance = self.instance, None
        try:
            vars(instance).clear()
        except BaseException:  # noqa: BLE001 - no __dict__, or a hostile one
            pass

    def _get(self, request: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        """The value of a module's attribute (an answer such as ``answers.W_AND``)."""
        name = f"{request['module']}.{request['name']}"
        try:
            value = getattr(importlib.import_module(request["module"]), request["name"])
            out: list[bytes] = []
            return {"status": "ok", "result": self._encode(value, out)}, out
        except BaseException as error:  # noqa: BLE001 - a module's __getattr__ may raise anything
            return {"status": "error", "error": self._describe(error, during=f"reading {name}")}, []

    def _to_device(self, value: Any) -> Any:
        """Every tensor in ``value`` on this request's device; tensors that require grad stay leaves."""
        import torch

        if self.device == "cpu":
            return value
        if isinstance(value, torch.Tensor):
            return value.detach().to(self.device).requires_grad_(value.requires_grad)
        if isinstance(value, list):
            return [self._to_device(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self._to_device(v) for v in value)
        if isinstance(value, dict):
            return {k: self._to_device(v) for k, v in value.items()}
        return value

    def _collect_leaves(self, value: Any, leaves: dict[int, Any]) -> None:
        import torch

        if isinstance(value, torch.Tensor):
            if value.requires_grad:
                leaves[len(leaves)] = value
        elif isinstance(value, (list, tuple)):
            for item in value:
                self._collect_leaves(item, leaves)
        elif isinstance(value, dict):
            for item in value.values():
                self._collect_leaves(item, leaves)

    def _gradients(self, result: Any, leaves: list[Any], cotangent: Any) -> list[Any] | str:
        import torch

        if not isinstance(result, torch.Tensor):
            return f"it returned {type(result).__name__}, not a tensor, so no gradient can flow through it"
        if result.grad_fn is None or not result.requires_grad:
            return (
                "its result is not connected to the inputs by autograd (was it detached, or computed "
                "with .item(), .numpy(), .data or torch.no_grad()?)"
            )
        if cotangent is None:
            cotangent = torch.ones_like(result)
        grads = torch.autograd.grad(result, leaves, grad_outputs=cotangent, allow_unused=True)
        # One gradient per leaf (autograd's promise); indexed, as zip(strict=) is not in Python 3.9.
        return [torch.zeros_like(leaf) if grads[i] is None else grads[i] for i, leaf in enumerate(leaves)]

    def _encode(self, value: Any, out: list[bytes]) -> Any:
        def opaque(obj: Any) -> Any:
            kind = type(obj)
            return {"$opaque": {"type": f"{kind.__module__}.{kind.__qualname__}"}}

        return self.wire.encode_value(value, out, convert_unknown=opaque)

    def _target(self, target: dict[str, Any], course_methods: dict[str, str]) -> Any:
        obj: Any = importlib.import_module(target["module"])
        for part in str(target["name"]).split("."):
            obj = getattr(obj, part)
        method = target.get("method")
        if method is None:
            return obj
        instance = self.instance = obj()
        for attribute, course_name in course_methods.items():
            setattr(instance, attribute, self._course_part(course_name))
        return instance if method == "__call__" else getattr(instance, method)

    def _course_part(self, name: str) -> Any:
        """A part of the course's code this worker was given: a bound method, or a class."""
        if name not in self.course:
            raise LookupError(f"this worker was not given the course's {name}")
        return self.course[name]

    def _resolve(self, ref: dict[str, Any], buffers: list[bytearray]) -> Any:
        import torch

        from autograder.worker import models

        kind = ref.get("kind")
        if kind == "dtype":
            dtype = self.wire.DTYPES[ref["name"]]
            if self.device == "cpu":
                return dtype
            # The course passes tensor types (torch.cuda.FloatTensor) so that .type(dtype) also moves data.
            return torch.empty((), dtype=dtype, device=self.device).type()
        if kind == "model":
            model = models.build_model(
                ref["name"], int(ref["seed"]), self.wire.DTYPES[ref.get("dtype", "float32")], frozen=bool(ref.get("frozen", True))
            ).to(self.device)
            if ref.get("record"):
                self.recordings.append(_record_inputs(model))
            return model
        if kind == "course":
            return self._course_part(str(ref["name"]))()
        if kind == "image_file":
            import PIL.Image

            pixels = self.wire.decode_value(ref["pixels"], buffers)
            if not isinstance(pixels, torch.Tensor) or pixels.dtype != torch.uint8:
                raise self.wire.WireError("an image must be a uint8 tensor")
            path = os.path.join(self.scratch, os.path.basename(str(ref["name"])))
            PIL.Image.fromarray(pixels.numpy()).save(path)
            return path
        raise self.wire.WireError(f"unknown reference kind {kind!r:.40}")

    def _own_file(self, filename: str) -> str | None:
        """``filename`` relative to the submission, or ``None`` if it is not one of the student's files."""
        if not os.path.isabs(filename):
            return None
        path = os.path.realpath(filename)
        return os.path.relpath(path, self.workdir) if path.startswith(self.workdir + os.sep) else None

    def _describe(self, error: BaseException, *, during: str) -> dict[str, Any]:
        """What a student needs to see of an exception: its type, message and their own frames.

        The exception is the student's, and reading any part of it can run
        their code (``__str__``, a ``repr`` of ``SystemExit``'s argument, a
        property on a subclass) and raise again. Each part is read on its own;
        a part that cannot be read is said to be unreadable, so an exception
        is always described as the student's and never fails the worker.
        """
        kind = type(error)
        if isinstance(error, SystemExit):
            code = _readable(lambda: _plain_repr(_slot(SystemExit, "code", error)), "an object that cannot be shown")
            message = f"sys.exit({code}) was called"
        else:
            message = _readable(lambda: str(error), "<the exception's message could not be read>")
        return {
            "type": _readable(lambda: _slot(type, "__name__", kind), "an exception"),
            "message": message[:MAX_ERROR_CHARS],
            "traceback": _readable(lambda: self._own_frames(error), "")[-MAX_ERROR_CHARS:],
            "during": during,
        }

    def _own_frames(self, error: BaseException) -> str:
        """The frames of the traceback of ``error`` that lie in the student's files, as text."""
        frames = []
        for frame in traceback.extract_tb(_slot(BaseException, "__traceback__", error)):
            path = self._own_file(frame.filename)
            if path is not None:
                frames.append(
                    f'  File "{path}", line {frame.lineno}, in {frame.name}\n' + (f"    {frame.line}\n" if frame.line else "")
                )
        if isinstance(error, SyntaxError):
            path = self._own_file(_plain(_slot(SyntaxError, "filename", error)) or "")
            if path is not None:
                line = _plain(_slot(SyntaxError, "text", error)) or ""
                frames.append(f'  File "{path}", line {_slot(SyntaxError, "lineno", error)!r}\n    {line.rstrip()}\n')
        return "".join(frames)


def _slot(owner: type, name: str, obj: Any) -> Any:
    """``obj.name`` as ``owner`` defines it: a subclass's property or metaclass cannot stand in for it."""
    return owner.__dict__[name].__get__(obj, type(obj))


def _plain(value: Any) -> str | None:
    """``value`` as an exact ``str`` (a subclass's methods are never called), or ``None`` if it is no string."""
    return str.join("", [value]) if isinstance(value, str) else None


def _plain_repr(value: Any) -> str:
    text = _plain(repr(value))
    if text is None:
        raise TypeError("repr returned no string")
    return text


def _readable(read: Any, fallback: str) -> str:
    """What ``read()`` gives, as an exact ``str``; ``fallback`` if it raises anything or gives no string."""
    try:
        text = _plain(read())
    except BaseException:  # noqa: BLE001 - the student's code, run while describing their exception
        return fallback
    return fallback if text is None else text


def _record_inputs(model: Any, limit: int = 500) -> list[Any]:
    """The input of every forward of ``model`` (up to ``limit``), kept on the CPU, however the student calls it.

    The hook sits on the model's input layer, not on the model: ``model(X)``,
    ``model.forward(X)`` and ``model.features(X)`` then ``model.classifier``
    all pass X to that layer once, while ``model.forward`` skips the model's
    own hooks (a correct fooling image that called it was seen feeding nothing).
    """
    from autograder.worker import models

    recording: list[Any] = []

    def record(module: Any, inputs: tuple[Any, ...]) -> None:
        if len(recording) < limit and inputs:
            recording.append(inputs[0].detach().to("cpu").clone())

    models.input_layer(model).register_forward_pre_hook(record)
    return recording


def _target_name(target: dict[str, Any]) -> str:
    method = target.get("method")
    if method is None:
        return f"calling {target['name']}"
    return f"calling {target['name']}.{'forward' if method == '__call__' else method}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _text_stream(fd: int) -> io.TextIOWrapper:
    """A fresh text stream on ``fd`` (whatever the grader's sys.stdout was when it forked)."""
    return io.TextIOWrapper(
        open(fd, "wb", buffering=0, closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True
    )


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - a student may have replaced or closed the stream
            pass
