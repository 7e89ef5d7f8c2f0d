"""Binary document data for HLTA: label lists -> sparse matrix -> weighted distinct rows.

HLTA never looks at single documents, only at weighted distinct rows (spec §2 "Data":
latlab's ``DataSet.addDataCase`` merges duplicates), at weighted bootstrap samples of them
(spec §3 step 1) and at the pattern counts of a few columns (spec §6/§7: bit-pack the
selected columns into one integer code per row, then ``np.bincount``).

Pattern-count vectors have length ``2**k`` for ``k`` columns; entry ``c`` is the total weight
of the rows whose value in column ``j`` is bit ``j`` of ``c``.
"""

from __future__ import annotations

import copy
import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from explain_engine.errors import EngineInputError


def documents_to_matrix(documents: Sequence[Sequence[int]], num_classes: int) -> sp.csr_matrix:
    """The binary document x class matrix (float64 ones, CSR, one row per document).

    A class listed twice in a document counts once. Raises ``EngineInputError`` naming the
    first bad document if a label is not an integer or lies outside ``0 .. num_classes - 1``.
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise EngineInputError(f"num_classes is {num_classes!r}; expected a positive integer")
    lengths = np.fromiter((len(doc) for doc in documents), dtype=np.int64, count=len(documents))
    flat = list(itertools.chain.from_iterable(documents))
    if not all(type(label) is int for label in flat):
        _check_integers(documents)
        flat = [operator.index(label) for label in flat]
    labels = np.asarray(flat, dtype=np.int64)
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        position = int(bad[0])
        document = int(np.searchsorted(np.cumsum(lengths), position, side="right"))
        raise EngineInputError(
            f"document {document} has class index {labels[position]}; "
            f"expected integers in 0..{num_classes - 1}"
        )
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    matrix = sp.csr_matrix(
        (np.ones(labels.size), labels, indptr), shape=(len(documents), num_classes)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def _check_integers(documents: Sequence[Sequence[int]]) -> None:
    """Raise ``EngineInputError`` for the first label that is not an integer (bools included)."""
    for number, doc in enumerate(documents):
        for label in doc:
            if isinstance(label, bool | np.bool_):
                break
            try:
                operator.index(label)
            except TypeError:
                break
        else:
            continue
        raise EngineInputError(
            f"document {number} has label {label!r}; expected integer class indices"
        )


@dataclass(frozen=True, eq=False)
class WeightedData:
    """Distinct binary rows with positive weights (spec §2 "Data").

    ``rows``: CSR (n_rows x n_vars) holding float64 ones; ``weights``: (n_rows,) float64.
    """

    rows: sp.csr_matrix
    weights: np.ndarray

    @property
    def n_rows(self) -> int:
        return self.rows.shape[0]

    @property
    def n_vars(self) -> int:
        return self.rows.shape[1]

    @property
    def total(self) -> float:
        """N: the total weight (the number of documents the rows stand for)."""
        return float(self.weights.sum())

    @cached_property
    def columns(self) -> sp.csc_matrix:
        """The same matrix in CSC form, for fast access to the rows holding one variable."""
        return self.rows.tocsc()


def compress(matrix: sp.spmatrix | np.ndarray, weights: np.ndarray | None = None) -> WeightedData:
    """Merge identical rows of a binary matrix, summing their weights (default weight 1).

    Distinct rows come out in a fixed (lexicographic) order, so the result depends only on the
    multiset of weighted rows.
    """
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    n_rows, n_vars = matrix.shape
    weights = np.ones(n_rows) if weights is None else np.asarray(weights, dtype=np.float64)
    if n_rows == 0:
        return WeightedData(matrix, weights)
    _, first, inverse = np.unique(_row_keys(matrix), axis=0, return_index=True, return_inverse=True)
    rows = matrix[first]
    rows.data[:] = 1.0
    return WeightedData(rows, np.bincount(inverse.ravel(), weights, minlength=first.size))


def _row_keys(matrix: sp.csr_matrix) -> np.ndarray:
    """One fixed-width key per row that is equal exactly for equal rows.

    Short rows (documents of a few labels) become their sorted column indices padded with -1;
    dense rows (hard-assigned latents) their bits packed into bytes, whichever is smaller.
    """
    n_rows, n_vars = matrix.shape
    lengths = np.diff(matrix.indptr)
    row_of_entry = np.repeat(np.arange(n_rows), lengths)
    width = int(lengths.max(initial=0))
    n_bytes = (n_vars + 7) // 8
    if width * 4 <= n_bytes:
        matrix.sort_indices()
        keys = np.full((n_rows, max(width, 1)), -1, dtype=np.int32)
        keys[row_of_entry, np.arange(matrix.nnz) - matrix.indptr[row_of_entry]] = matrix.indices
        return keys
    packed = np.zeros(n_rows * n_bytes, dtype=np.uint8)
    bits = np.left_shift(1, matrix.indices % 8).astype(np.uint8)
    np.add.at(packed, row_of_entry * n_bytes + matrix.indices // 8, bits)  # distinct bits: + is |
    return packed.reshape(n_rows, n_bytes)


def sample_with_replacement(
    data: WeightedData, size: int, rng: np.random.Generator
) -> WeightedData:
    """A weighted bootstrap sample of ``size`` documents, as distinct rows with counts.

    Row ``i`` is drawn with probability ``weights[i] / total`` (spec §3 step 1,
    ``DataSet.sampleWithReplacement``); rows never drawn are left out.
    """
    counts = rng.multinomial(size, data.weights / data.total)
    kept = np.flatnonzero(counts)
    return WeightedData(data.rows[kept], counts[kept].astype(np.float64))


class Projection:
    """Integer pattern codes of every row over a list of columns (bit ``j`` = ``columns[j]``).

    ``extended`` adds one column as the next bit by or-ing it into the rows that hold it,
    so growing an island by one variable costs one pass over that variable's rows.
    """

    def __init__(self, data: WeightedData, columns: Sequence[int] = ()):
        self.data = data
        self.columns: tuple[int, ...] = ()
        self.codes = np.zeros(data.n_rows, dtype=np.int64)
        for column in columns:
            self._add(column)

    def _add(self, column: int) -> None:
        csc = self.data.columns
        rows = csc.indices[csc.indptr[column] : csc.indptr[column + 1]]
        self.codes[rows] |= 1 << len(self.columns)
        self.columns += (int(column),)

    def extended(self, column: int) -> Projection:
        """A new projection with ``column`` appended (this one is unchanged)."""
        new = copy.copy(self)
        new.codes = self.codes.copy()
        new._add(column)
        return new

    def counts(self) -> np.ndarray:
        """The weighted pattern counts, shape ``(2**len(columns),)``."""
        return np.bincount(self.codes, self.data.weights, minlength=1 << len(self.columns))


def marginal_counts(counts: np.ndarray, keep: Sequence[int]) -> np.ndarray:
    """Pattern counts over the bits ``keep`` of a pattern-count vector (new bit j = keep[j])."""
    n_bits = int(counts.size).bit_length() - 1
    # In C order the axis for bit b of a (2,)*n_bits reshape is n_bits - 1 - b.
    table = counts.reshape((2,) * n_bits)
    dropped = tuple(n_bits - 1 - b for b in range(n_bits) if b not in keep)
    table = table.sum(axis=dropped)
    remaining = [b for b in reversed(range(n_bits)) if b in keep]  # bit of each axis now
    order = [remaining.index(b) for b in reversed(keep)]
    return np.transpose(table, order).reshape(-1)
