"""Share work out among forked processes (``kubefort scan --jobs``).

Loading and rule evaluation are CPU-bound Python; threads would not run them in parallel. After
``fork()`` a worker sees everything the parent has built (the inventory, the caches) without
copying it, and only its results travel back, through a pipe.

The work is a list of items (files, chunks of objects). Their indexes wait in a queue, a pipe
filled before the fork: each process, the parent included, takes the next index when it is free
(reads of 4 bytes from a pipe are atomic), so a slower process simply takes fewer items. A
worker that fails or sends something unreadable loses nothing: its items are reported missing
and the caller does them itself.

fork() is only safe in a process without other threads: the CLI asks for workers; library callers
(the admission webhook, tests) do not unless they know the same.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import struct
import sys
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

#: at most this many items: their indexes fit in the pipe buffer (64 KiB) before anyone reads
MAX_ITEMS = 10_000


def share_out(
    n_items: int, work: Callable[[Iterator[int]], Any], workers: int, *, dumps: Callable[[Any], bytes] = pickle.dumps
) -> tuple[Any, list[int], list[tuple[list[int], bytes]]]:
    """Run ``work`` in ``workers`` processes over the item indexes ``0 .. n_items-1``.

    ``work(take)`` consumes the iterator ``take`` (the indexes this process got) and returns its
    result. Returns (the parent's result, the indexes it did in order, [(indexes, dumps(result))
    of each worker that succeeded]). Indexes in none of them are missing: do them yourself.
    """
    if n_items > MAX_ITEMS:
        raise ValueError(f"share_out: at most {MAX_ITEMS} items")
    n = max(1, min(workers, n_items))
    queue_r, queue_w = os.pipe()
    os.write(queue_w, b"".join(struct.pack("<I", i) for i in range(n_items)))
    os.close(queue_w)
    for stream in (sys.stdout, sys.stderr):  # a child must not inherit (and lose or repeat) buffered text
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    children: list[tuple[int, int]] = []
    try:
        for _ in range(1, n):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # worker: take items, send the result, leave without running any exit handler
                code = 1
                try:
                    os.close(r)
                    done: list[int] = []
                    result = work(_take(queue_r, done))
                    data = dumps(result)
                    del result  # the bytes are what is sent: the results need not stay beside them
                    head = pickle.dumps(done, protocol=pickle.HIGHEST_PROTOCOL)
                    with os.fdopen(w, "wb") as fh:  # the item indexes, then the result's bytes as they are
                        fh.write(struct.pack("<Q", len(head)) + head)
                        fh.write(data)
                    code = 0
                except BaseException:
                    pass
                finally:
                    os._exit(code)
            os.close(w)
            children.append((pid, r))
        own_done: list[int] = []
        own = work(_take(queue_r, own_done))
    except BaseException:
        for pid, r in children:  # leave no worker behind: each stops at its next write
            os.close(r)
            os.waitpid(pid, 0)
        raise
    finally:
        os.close(queue_r)
    shares: list[tuple[list[int], bytes]] = []
    for pid, r in children:
        with os.fdopen(r, "rb") as fh:
            size = fh.read(8)
            head = fh.read(struct.unpack("<Q", size)[0]) if len(size) == 8 else b""
            data = fh.read()  # one copy of the result's bytes, read as the worker wrote them
        _, status = os.waitpid(pid, 0)
        if status != 0:
            log.debug("worker %d failed (status %d): its items are done here", pid, status)
            continue
        try:
            done = pickle.loads(head)
            if not isinstance(done, list) or not all(isinstance(i, int) for i in done):
                raise ValueError("not a list of item indexes")
        except Exception:
            log.debug("worker %d sent an unreadable result", pid, exc_info=True)
            continue
        shares.append((done, data))
        del data
    return own, own_done, shares


def _take(queue: int, done: list[int]) -> Iterator[int]:
    while True:
        b = os.read(queue, 4)
        if not b:
            return
        i = struct.unpack("<I", b)[0]
        done.append(i)
        yield i


def missing(n_items: int, *dones: list[int]) -> list[int]:
    taken = {i for d in dones for i in d}
    return [i for i in range(n_items) if i not in taken]
