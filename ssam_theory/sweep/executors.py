"""Execution of a sweep's chunks: serially or on any :class:`concurrent.futures.Executor`.

A ``distributed.Client`` is accepted too: :meth:`distributed.Client.get_executor` gives a
``concurrent.futures.Executor``, so one code path serves threads, processes and Dask.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import pickle
import signal
import sys
import threading
import time

from .kernel import run_chunk

__all__ = ["as_executor", "check_picklable", "execute", "is_dask_client", "process_pool",
           "progress_bar", "terminate"]

#: Chunks in flight on an executor: bounds the memory held by pending results.
WINDOW = 64


def progress_bar(progress, total, initial):
    """A tqdm bar on stderr (``progress=None``: only if stderr is a terminal), or ``None``."""
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="config", desc="sweep", file=sys.stderr)


def is_dask_client(executor) -> bool:
    """True for a ``distributed.Client`` (checked without importing Dask otherwise)."""
    mod = type(executor).__module__ or ""
    if not mod.startswith("distributed"):
        return False
    from distributed import Client

    return isinstance(executor, Client)


def as_executor(executor) -> cf.Executor | None:
    """``None``, an executor, or a Dask client's executor; ``TypeError`` for anything else."""
    if executor is None or isinstance(executor, cf.Executor):
        return executor
    if is_dask_client(executor):
        return executor.get_executor(pure=False)
    raise TypeError(f"executor must be None, a concurrent.futures.Executor or a "
                    f"distributed.Client, got {executor!r}")


def execute(executor, spec, todo, payload, done) -> None:
    """Run the chunks ``todo`` serially or on ``executor``; call ``done(c, result)`` as each
    finishes (results land in their own slots, so completion order does not matter).

    At most :data:`WINDOW` chunks are in flight at once.
    """
    pool = as_executor(executor)
    if pool is None:
        for c in todo:
            done(c, run_chunk(spec, *payload(c)))
        return
    pending = {}
    it = iter(todo)
    for c in it:
        pending[pool.submit(run_chunk, spec, *payload(c))] = c
        if len(pending) >= WINDOW:
            break
    try:
        while pending:
            finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                done(pending.pop(fut), fut.result())
                nxt = next(it, None)
                if nxt is not None:
                    pending[pool.submit(run_chunk, spec, *payload(nxt))] = nxt
    finally:
        for fut in pending:
            fut.cancel()


def _watch_parent(ppid: int, period: float) -> None:
    while True:
        time.sleep(period)
        if os.getppid() != ppid:  # the parent died: this worker was re-parented
            os._exit(1)


def _worker_init(period: float) -> None:
    """Initializer of :func:`process_pool` workers: ignore Ctrl-C (the parent handles it and
    stops the pool) and exit as soon as the parent process is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ppid = os.getppid()
    threading.Thread(target=_watch_parent, args=(ppid, period), daemon=True,
                     name="ssam-theory-parent-watch").start()


def process_pool(max_workers: int, parent_poll: float = 0.2) -> cf.ProcessPoolExecutor:
    """A :class:`concurrent.futures.ProcessPoolExecutor` whose workers never outlive their
    parent: each polls its parent's pid every ``parent_poll`` seconds and exits when the
    parent died (even by SIGKILL), and ignores SIGINT so that Ctrl-C reaches only the parent.
    """
    return cf.ProcessPoolExecutor(max_workers, initializer=_worker_init,
                                  initargs=(float(parent_poll),))


def terminate(pool) -> None:
    """Stop a process pool now: cancel queued work and terminate its workers (used on Ctrl-C,
    when waiting for running chunks would take up to a chunk's time)."""
    if not isinstance(pool, cf.ProcessPoolExecutor):
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        try:
            p.terminate()
        except Exception:  # already gone
            pass
    for p in procs:
        p.join(timeout=5)


def check_picklable(fn, executor) -> None:
    """A process pool pickles ``fn`` with :mod:`pickle`, Dask with cloudpickle."""
    if isinstance(executor, cf.ThreadPoolExecutor):
        return
    dumps = pickle.dumps
    if is_dask_client(executor):
        import cloudpickle

        dumps = cloudpickle.dumps
    try:
        dumps(fn)
    except Exception as exc:
        raise TypeError(f"make_optimizer must be picklable to run on {executor!r} (use a "
                        f"module-level function or a functools.partial of one), got "
                        f"{fn!r}: {exc}") from None
