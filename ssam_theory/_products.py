r"""Row-local products of a batch of iterates with a fixed matrix: :math:`X M`, row by row.

Every landscape gradient here is such a product (:math:`Hw`, :math:`Xw`, :math:`X^\top r`),
and every kernel below keeps one guarantee: the bits of a row of the result depend on that
row alone, never on how many rows the batch has or where the row sits in it. That is what
makes a batch equal its rows, and a sweep independent of its chunk size and executor.

Two arithmetics, chosen per landscape (its ``fast`` flag):

* **exact** (default): ``einsum``'s row-local accumulation :math:`(((0 + x_1 m_1) + x_2 m_2)
  + \dots)`, no fused multiply-add; the numbers the package has always produced.
  :func:`sequential_times` gives the same bits with elementwise operations over
  coordinate-major batches (faster for small :math:`d`).
* **fast**: BLAS ``matmul`` over fixed-shape blocks of :func:`block_rows` rows (the last
  block zero-padded). BLAS chooses its kernel and its summation order from the operand shapes;
  with the shape fixed, every row goes through the same instructions in the same lane-wise
  order, so a row's bits still do not depend on the batch (checked in the tests on this
  machine's BLAS; one or two BLAS threads give the same bits). It differs from the exact
  arithmetic by rounding (fused multiply-adds, a blocked summation order); the README gives
  the measured sizes.

:func:`row_groups` finds the rows of a batch that share a minibatch, so that data landscapes
can evaluate each group against its few examples instead of gathering one copy per row.
"""

from __future__ import annotations

import ctypes
import functools
import os

import numpy as np

#: Heap kept by glibc's allocator when it grows or trims the heap (``M_TOP_PAD``).
HEAP_PAD = 64 << 20
#: Blocks up to this size come from the heap, not from fresh ``mmap`` (``M_MMAP_THRESHOLD``;
#: 32 MiB is glibc's largest on 64-bit systems).
HEAP_BLOCK = 32 << 20


def keep_heap(pad: int = HEAP_PAD, block: int = HEAP_BLOCK) -> bool:
    """Ask glibc's ``malloc`` to reuse freed memory for array temporaries.

    A batched step allocates a dozen temporaries of ``B × d`` doubles. Past 128 KiB each,
    glibc serves them by ``mmap`` or trims the heap when they are freed, and the next step
    faults every page in again: measured on 2048 rows of a 20-dimensional least-squares
    step, 2.7x its CPU time. With blocks up to ``block`` bytes served from the heap and
    ``pad`` bytes kept when it shrinks, they are reused. Only the memory the process retains
    changes (at most ``pad`` more); no number does. Called once at import unless the
    environment sets ``SSAM_THEORY_KEEP_HEAP=0`` (it changes a process-wide allocator setting);
    a no-op (returns ``False``) where the C library has no ``mallopt`` (macOS, musl).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    M_TOP_PAD, M_MMAP_THRESHOLD = -2, -3  # from glibc's malloc.h
    return bool(mallopt(M_TOP_PAD, int(pad))) and bool(mallopt(M_MMAP_THRESHOLD, int(block)))


if os.environ.get("SSAM_THEORY_KEEP_HEAP", "1") != "0":
    keep_heap()

#: Most rows of a BLAS call of the fast arithmetic (see :func:`block_rows`).
BLOCK = 256

# OpenBLAS runs a product on one thread when m·n·k <= 65536 · 4 (interface/gemm.c:
# SMP_THRESHOLD_MIN · GEMM_MULTITHREAD_THRESHOLD); blocks stay below it.
_ONE_THREAD_MNK = 262144


def block_rows(k: int, m: int) -> int:
    """Rows of every BLAS call for a ``(k, m)`` matrix: a power of two in ``[8, BLOCK]``.

    A function of the matrix shape only, so every row of every batch goes through the same
    call shape. Small enough that OpenBLAS keeps the call on one thread: the products are a
    few MFlop, where a thread team costs more than it brings, and on a busy machine a
    descheduled BLAS thread stalls every call (measured: 10x slower sweeps at ``d = 64``).
    Parallelism comes from the sweep's executor instead.
    """
    r = max(1, _ONE_THREAD_MNK // max(1, k * m))
    return int(min(BLOCK, max(8, 1 << (r.bit_length() - 1))))

#: Up to this many coordinates, :func:`times` uses :func:`sequential_times` in both
#: arithmetics (exact bits, and faster than either ``einsum`` or BLAS at this size).
SMALL = 2


def sequential_times(X: np.ndarray, M: np.ndarray) -> np.ndarray:
    r"""``einsum("...i,ij->...j", X, M)`` bit for bit, by elementwise operations.

    Column :math:`j` of the result is :math:`((0 + x_1 m_{1j}) + x_2 m_{2j}) + \dots`, which
    is ``einsum``'s accumulation (the leading :math:`0 +` only turns a :math:`-0` into
    :math:`+0`). A Fortran-ordered ``X`` gives a Fortran-ordered result, so every operation
    runs over contiguous columns.
    """
    if X.ndim == 1:
        return sequential_times(X[None, :], M)[0]
    B, k = X.shape
    m = M.shape[1]
    order = "F" if X.flags.f_contiguous and not X.flags.c_contiguous else "C"
    out = np.empty((B, m), order=order)
    tmp = np.empty(B)
    for j in range(m):
        col = out[:, j]
        np.multiply(X[:, 0], M[0, j], out=col)
        col += 0.0
        for i in range(1, k):
            np.multiply(X[:, i], M[i, j], out=tmp)
            col += tmp
    return out


def blocked_matmul(X: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``X @ M`` for ``X (..., k)``, computed as BLAS products of fixed shape ``(R, k)``.

    ``R = block_rows(k, m)``. ``M`` should be C-contiguous (its layout is part of what BLAS
    sees). The rows are copied into zero-padded blocks when their count is not a multiple of
    ``R``; the blocks go to BLAS in one stacked ``matmul`` (one call per block, in C).
    """
    shape = X.shape
    k, m = M.shape
    R = block_rows(k, m)
    A = np.ascontiguousarray(X.reshape(-1, k))
    n = A.shape[0]
    nb = -(-n // R)
    if nb * R != n:
        P = np.zeros((nb * R, k))
        P[:n] = A
        A = P
    out = np.matmul(A.reshape(nb, R, k), M).reshape(nb * R, m)[:n]
    return out.reshape((*shape[:-1], m))


def times(X: np.ndarray, M: np.ndarray, fast: bool) -> np.ndarray:
    """``X @ M`` row by row in the chosen arithmetic (see the module docstring)."""
    if X.shape[-1] <= SMALL and X.ndim <= 2:
        return sequential_times(X, M)
    if fast:
        return blocked_matmul(X, M)
    return np.einsum("...i,ij->...j", X, M)


@functools.cache
def _multipliers(b: int) -> np.ndarray:
    """Odd 64-bit multipliers hashing a row of ``b`` indices (fixed, seeded)."""
    return np.random.default_rng(0x55A).integers(1, 2**63, size=b, dtype=np.uint64) | 1


def row_groups(idx: np.ndarray, previous=None):
    """Rows of ``idx (B, b)`` holding the same minibatch: ``(first, members, leader)``.

    ``first[g]`` is a row of group ``g``, ``members[g]`` its rows, ``leader[i]`` the first
    row of row ``i``'s group. A ``previous`` grouping that still holds (every row equal to its
    leader: the rows of one seed keep sharing their minibatches step after step) is reused.
    Otherwise rows are hashed (a wrapping 64-bit dot product), grouped by hash and verified
    against the indices themselves; ``None`` on a hash collision.
    """
    if (previous is not None and previous[2].shape[0] == idx.shape[0]
            and np.array_equal(idx[previous[2]], idx)):
        return previous
    key = (idx.astype(np.uint64) * _multipliers(idx.shape[1])).sum(axis=1, dtype=np.uint64)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    leader = first[inverse]
    if not np.array_equal(idx[leader], idx):
        return None
    order = np.argsort(inverse, kind="stable")
    members = np.split(order, np.cumsum(np.bincount(inverse))[:-1])
    return first, members, leader


def as_slice(rows: np.ndarray):
    """``rows`` as a slice when they are evenly spaced (a sweep's seeds interleave so), so
    that a group is a strided view of the batch instead of a gathered copy."""
    if rows.size > 1:
        step = int(rows[1] - rows[0])
        if step > 0 and np.array_equal(np.diff(rows), np.full(rows.size - 1, step)):
            return slice(int(rows[0]), int(rows[-1]) + 1, step)
    return rows
