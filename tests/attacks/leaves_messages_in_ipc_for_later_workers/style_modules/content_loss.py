"""An honest content loss, whose module tries every channel between processes that outlives them (see scenario.json).

The SysV keys all start with 0x7A7A, so tests/test_attacks.py can look for leftovers.
"""

import ctypes
import os

import torch
import torch.nn as nn

libc = ctypes.CDLL(None, use_errno=True)
for name, restype in (("shmat", ctypes.c_void_p), ("mq_open", ctypes.c_int), ("syscall", ctypes.c_long)):
    getattr(libc, name).restype = restype
libc.shmat.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
MESSAGE = b"a message from an earlier worker"
IPC_CREAT, IPC_NOWAIT, O_CREAT, O_RDWR, O_NONBLOCK = 0o1000, 0o4000, 0o100, 0o2, 0o4000
SHM_KEY, MSG_KEY, SEM_KEY, BIG_KEYS = 0x7A7A0001, 0x7A7A0002, 0x7A7A0003, (0x7A7A0011, 0x7A7A0012, 0x7A7A0013)
FILE = "/run/lock/attack-ipc-message"
ADD_KEY, REQUEST_KEY, KEYCTL = 248, 249, 250  # x86-64
KEY_SPEC_USER_KEYRING, KEYCTL_READ, KEYCTL_SET_TIMEOUT = -4, 11, 15


def attempt(function):
    try:
        return function()
    except Exception:
        return None


def read_shm():
    segment = libc.shmget(SHM_KEY, 4096, 0)
    if segment < 0:
        return None
    address = libc.shmat(segment, None, 0)
    if address in (None, ctypes.c_void_p(-1).value):
        return None
    return ctypes.string_at(address, len(MESSAGE))


def leave_shm():
    segment = libc.shmget(SHM_KEY, 4096, IPC_CREAT | 0o666)
    if segment >= 0:
        address = libc.shmat(segment, None, 0)
        if address not in (None, ctypes.c_void_p(-1).value):
            ctypes.memmove(address, MESSAGE, len(MESSAGE))
            libc.shmdt(ctypes.c_void_p(address))


class Message(ctypes.Structure):
    _fields_ = [("mtype", ctypes.c_long), ("mtext", ctypes.c_char * 64)]


def read_msg():
    queue = libc.msgget(MSG_KEY, 0)
    message = Message()
    if queue < 0 or libc.msgrcv(queue, ctypes.byref(message), 64, 0, IPC_NOWAIT) < 0:
        return None
    libc.msgsnd(queue, ctypes.byref(message), 64, IPC_NOWAIT)  # put it back for the next worker
    return message.mtext


def leave_msg():
    queue = libc.msgget(MSG_KEY, IPC_CREAT | 0o666)
    if queue >= 0:
        libc.msgsnd(queue, ctypes.byref(Message(1, MESSAGE)), 64, IPC_NOWAIT)


def read_sem():
    semaphore = libc.semget(SEM_KEY, 1, 0)
    return b"semaphore value 42" if semaphore >= 0 and libc.semctl(semaphore, 0, 12) == 42 else None  # GETVAL


def leave_sem():
    semaphore = libc.semget(SEM_KEY, 1, IPC_CREAT | 0o666)
    if semaphore >= 0:
        libc.semctl(semaphore, 0, 16, 42)  # SETVAL


def read_mq():
    queue = libc.mq_open(b"/attack-ipc", O_RDWR | O_NONBLOCK)
    if queue < 0:
        return None
    buffer = ctypes.create_string_buffer(1 << 16)
    size = libc.mq_receive(queue, buffer, len(buffer), None)
    if size > 0:
        libc.mq_send(queue, buffer, size, 0)
    return buffer.raw[:size] if size > 0 else None


def leave_mq():
    queue = libc.mq_open(b"/attack-ipc", O_CREAT | O_RDWR | O_NONBLOCK, 0o666, None)
    if queue >= 0:
        libc.mq_send(queue, MESSAGE, len(MESSAGE), 0)


def read_key():
    key = libc.syscall(REQUEST_KEY, b"user", b"attack-ipc", None, 0)
    if key < 0:
        return None
    buffer = ctypes.create_string_buffer(256)
    size = libc.syscall(KEYCTL, KEYCTL_READ, key, buffer, 256)
    return buffer.raw[:size] if size > 0 else None


def leave_key():
    key = libc.syscall(ADD_KEY, b"user", b"attack-ipc", MESSAGE, len(MESSAGE), KEY_SPEC_USER_KEYRING)
    if key >= 0:
        libc.syscall(KEYCTL, KEYCTL_SET_TIMEOUT, key, 300)  # gone by itself, should it get through


def read_file():
    with open(FILE, "rb") as stream:
        return stream.read()


def leave_file():
    with open(FILE, "wb") as stream:
        stream.write(MESSAGE)


def fill_big_segments():
    """Three segments of 300 MiB, each attached, filled and detached in turn: 900 MiB that outlive the worker."""
    size = 300 << 20
    for key in BIG_KEYS:
        segment = libc.shmget(key, size, IPC_CREAT | 0o600)
        if segment < 0:
            continue
        address = libc.shmat(segment, None, 0)
        if address not in (None, ctypes.c_void_p(-1).value):
            ctypes.memset(address, 1, size)
            libc.shmdt(ctypes.c_void_p(address))


CHANNELS = {
    "SysV shared memory": (read_shm, leave_shm),
    "a SysV message queue": (read_msg, leave_msg),
    "a SysV semaphore": (read_sem, leave_sem),
    "a POSIX message queue": (read_mq, leave_mq),
    "the user's keyring": (read_key, leave_key),
    "a file in /run/lock": (read_file, leave_file),
}
FOUND = sorted(name for name, (read, _) in CHANNELS.items() if attempt(read))
for _, leave in CHANNELS.values():
    attempt(leave)
attempt(fill_big_segments)


def check_no_message():
    if FOUND:
        raise RuntimeError(f"LEAKED: this worker read a message an earlier worker left in {', '.join(FOUND)}")


class ContentLoss(nn.Module):
    def forward(self, content_weight, content_current, content_original):
        check_no_message()
        return content_weight * torch.sum((content_current - content_original) ** 2)
