"""The Markov baseline: a character n-gram model with interpolated Kneser-Ney smoothing.

An order-n model makes the Markov assumption: the next character depends only on the n-1
characters before it. Smoothing follows Chen & Goodman (1998), "An Empirical Study of
Smoothing Techniques for Language Modeling", eq. (17)-(18) (interpolated Kneser-Ney):

    P(w | h) = max(c(h w) - D, 0) / c(h)  +  D · N1+(h •) / c(h) · P(w | h')

where h' drops the oldest character of h, c(·) are raw counts at the highest order and
continuation counts N1+(• h w) (the number of distinct characters seen before ``h w``) at the
lower orders, N1+(h •) is the number of distinct characters seen after h, and D = n1 / (n1 + 2 n2)
(Ney et al., 1994) per order from the counts-of-counts n_r (how many n-grams occur r times).
The default is Chen & Goodman's *modified* Kneser-Ney, eq. (19)-(20) and (26): three discounts
D1, D2, D3+ chosen by the count (1, 2, 3 or more), D_r = r - (r+1) Y n_{r+1} / n_r with
Y = n1 / (n1 + 2 n2), and the weight of the lower order D1 N1(h •) + D2 N2(h •) + D3+ N3+(h •)
over c(h). Where the paper leaves a discount undefined (n1 + 2 n2 = 0, or n_r = 0: tiny
vocabularies at order 1) we take Y = 0.5 and D_r = Y, and every D_r is kept inside (0, r).
The recursion ends in the uniform distribution over the vocabulary, and a context
never seen falls back to the lower order entirely (its first term and weight are undefined).

The n-grams of each order are packed into one int64 key (base = vocabulary size) and counted
with ``np.unique``; evaluation is vectorised over every position with ``np.searchsorted``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from netanatomy.errors import UserError

_INT64_MAX = 2**63 - 1


@dataclass
class _Order:
    """Statistics of the k-grams (k = order) that the interpolation needs."""

    keys: np.ndarray  # sorted unique k-gram keys
    counts: np.ndarray  # c(g) at the top order, N1+(• g) below (float64)
    ctx_keys: np.ndarray  # sorted unique (k-1)-gram context keys
    ctx_total: np.ndarray  # sum over w of counts(h w)
    #: sum over the w seen after h of D(c(h w)): the mass handed to the lower order.
    ctx_backoff: np.ndarray
    #: D(c) for c = 0, 1, 2, 3+ (D(0) = 0; single-discount KN repeats D).
    discounts: np.ndarray


def _keys(tokens: np.ndarray, k: int, base: int) -> np.ndarray:
    """Key of the k-gram ending at each position >= k-1: sum_j tokens[i-k+1+j] · base^(k-1-j)."""
    n = len(tokens) - k + 1
    key = np.zeros(max(n, 0), dtype=np.int64)
    for j in range(k):
        key = key * base + tokens[j : j + n]
    return key


def _discounts(counts: np.ndarray, modified: bool) -> np.ndarray:
    """[0, D1, D2, D3+] from the counts-of-counts (Chen & Goodman, 1998, eq. 26)."""
    n = [float(np.count_nonzero(counts == r)) for r in range(5)]
    y = n[1] / (n[1] + 2 * n[2]) if n[1] + 2 * n[2] > 0 else 0.5
    if not modified:
        d = min(max(y, 1e-3), 0.999)
        return np.array([0.0, d, d, d])
    out = [0.0]
    for r in (1, 2, 3):
        # D_r = r - (r+1) Y n_{r+1} / n_r, kept inside (0, r) when the counts are degenerate.
        d = r - (r + 1) * y * n[r + 1] / n[r] if n[r] > 0 else y
        out.append(min(max(d, 1e-3), r - 1e-3))
    return np.array(out)


def _make_order(keys: np.ndarray, counts: np.ndarray, base: int, modified: bool) -> _Order:
    """Group the sorted k-gram keys by their context (key // base; sorted too, so reduceat works)."""
    ctx = keys // base
    d = _discounts(counts, modified)
    if len(ctx) == 0:
        empty = np.zeros(0)
        return _Order(keys, counts, ctx, empty, empty, d)
    starts = np.flatnonzero(np.r_[True, ctx[1:] != ctx[:-1]])
    return _Order(
        keys=keys,
        counts=counts,
        ctx_keys=ctx[starts],
        ctx_total=np.add.reduceat(counts, starts),
        ctx_backoff=np.add.reduceat(d[np.minimum(counts, 3).astype(np.int64)], starts),
        discounts=d,
    )


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[key] for each query key, 0 where the key is absent."""
    if len(sorted_keys) == 0:
        return np.zeros(len(query), dtype=values.dtype)
    pos = np.minimum(np.searchsorted(sorted_keys, query), len(sorted_keys) - 1)
    found = sorted_keys[pos] == query
    return np.where(found, values[pos], 0)


class KneserNey:
    """Interpolated Kneser-Ney character n-gram model.

    Args:
        order: n, the length of the n-grams (the model sees n-1 characters of history).
        vocab_size: number of symbols; token ids are ``0 .. vocab_size-1``.
        modified: three discounts per order (modified KN, the default) or one.
    """

    def __init__(self, order: int, vocab_size: int, modified: bool = True) -> None:
        if order < 1:
            raise UserError(f"--order must be at least 1, got {order}")
        if vocab_size < 1:
            raise UserError("the vocabulary is empty")
        if vocab_size ** order > _INT64_MAX:
            max_order = int(math.log(_INT64_MAX) / math.log(max(vocab_size, 2)))
            raise UserError(f"order {order} is too high for a vocabulary of {vocab_size} (at most {max_order})")
        self.order = order
        self.vocab_size = vocab_size
        self.modified = modified
        self.orders: list[_Order] = []

    def fit(self, tokens: np.ndarray) -> KneserNey:
        """Count the n-grams of ``tokens`` (an int array of ids) at every order 1..n."""
        tokens = np.asarray(tokens, dtype=np.int64)
        V = self.vocab_size
        if len(tokens) < self.order:
            raise UserError(f"the training text ({len(tokens)} symbols) is shorter than the order {self.order}")
        # Highest order: raw counts. Each lower order k: continuation counts N1+(• g), i.e. how
        # many distinct (k+1)-grams end in g, read off the unique (k+1)-gram keys (key mod V^k).
        top_keys, top_counts = np.unique(_keys(tokens, self.order, V), return_counts=True)
        self.orders = [_make_order(top_keys, top_counts.astype(np.float64), V, self.modified)]
        for k in range(self.order - 1, 0, -1):
            above = np.unique(_keys(tokens, k + 1, V))
            keys, cont = np.unique(above % (V**k), return_counts=True)
            self.orders.insert(0, _make_order(keys, cont.astype(np.float64), V, self.modified))
        return self

    def _check_fitted(self) -> None:
        if not self.orders:
            raise RuntimeError("KneserNey.fit() must run first")

    def _interpolate(self, hist: np.ndarray, hist_len: np.ndarray, w: np.ndarray) -> np.ndarray:
        """P(w | hist) for a batch: ``hist`` is (m, n-1) of ids, the last ``hist_len`` of each
        row valid (the rest is the start of the text), ``w`` is (m,)."""
        V = self.vocab_size
        p = np.full(len(w), 1.0 / V)  # the recursion ends in the uniform distribution
        ctx = np.zeros(len(w), dtype=np.int64)
        for k in range(1, self.order + 1):
            o = self.orders[k - 1]
            if k > 1:  # extend the context one character further back
                ctx = ctx + hist[:, self.order - k] * (V ** (k - 2))
            usable = hist_len >= k - 1
            total = _lookup(o.ctx_keys, o.ctx_total, ctx)
            backoff = _lookup(o.ctx_keys, o.ctx_backoff, ctx)
            c = _lookup(o.keys, o.counts, ctx * V + w)
            seen = usable & (total > 0)
            safe = np.where(seen, total, 1.0)
            p_k = (c - o.discounts[np.minimum(c, 3).astype(np.int64)] + backoff * p) / safe
            p = np.where(seen, p_k, p)
        return p

    def log_probs(self, tokens: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        """Natural log P(token_i | the n-1 symbols before it) for every position of ``tokens``.

        Args:
            tokens: the ids to score.
            context: ids that precede ``tokens`` (e.g. the end of the training text), so that the
                first positions also get a full history.
        """
        self._check_fitted()
        n1 = self.order - 1
        tail = np.asarray(context, dtype=np.int64)[len(context) - n1 :] if context is not None and n1 else np.zeros(0, dtype=np.int64)
        # pad[j] = seq[j - n1] (zeros before the start); the history of seq[i] is pad[i : i + n1].
        seq = np.concatenate([tail, np.asarray(tokens, dtype=np.int64)])
        pad = np.concatenate([np.zeros(n1, dtype=np.int64), seq])
        out = np.empty(len(tokens))
        step = 1 << 18  # histories chunk by chunk: bounded memory for very long texts
        for a in range(0, len(tokens), step):
            idx = len(tail) + np.arange(a, min(a + step, len(tokens)))  # positions in seq
            hist = np.stack([pad[idx + j] for j in range(n1)], axis=1) if n1 else np.zeros((len(idx), 0), dtype=np.int64)
            out[a : a + len(idx)] = np.log(self._interpolate(hist, np.minimum(idx, n1), seq[idx]))
        return out

    def next_distributions(self, tokens: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        """P(· | the n-1 symbols before position i) for every position i of ``tokens``: (len, V).

        Row i is the distribution ``tokens[i]`` is scored under by :meth:`log_probs` (the same
        histories, all V candidates at once), so ``rows[i, tokens[i]] == exp(log_probs[i])``.
        """
        self._check_fitted()
        n1, V = self.order - 1, self.vocab_size
        tail = np.asarray(context, dtype=np.int64)[len(context) - n1 :] if context is not None and n1 else np.zeros(0, dtype=np.int64)
        seq = np.concatenate([tail, np.asarray(tokens, dtype=np.int64)])
        pad = np.concatenate([np.zeros(n1, dtype=np.int64), seq])
        out = np.empty((len(tokens), V))
        step = max(1, (1 << 18) // V)  # rows per chunk: each expands to V candidate histories
        for a in range(0, len(tokens), step):
            idx = len(tail) + np.arange(a, min(a + step, len(tokens)))
            hist = np.stack([pad[idx + j] for j in range(n1)], axis=1) if n1 else np.zeros((len(idx), 0), dtype=np.int64)
            p = self._interpolate(np.repeat(hist, V, axis=0), np.repeat(np.minimum(idx, n1), V), np.tile(np.arange(V), len(idx)))
            out[a : a + len(idx)] = p.reshape(len(idx), V)
        return out

    def nats_per_char(self, tokens: np.ndarray, context: np.ndarray | None = None) -> float:
        """Cross-entropy of ``tokens`` in nats per symbol (divide by ln 2 for bits)."""
        return float(-self.log_probs(tokens, context).mean())

    def distribution(self, history: np.ndarray) -> np.ndarray:
        """P(· | history) over the whole vocabulary (sums to 1); uses the last n-1 ids."""
        self._check_fitted()
        n1 = self.order - 1
        h = np.asarray(history, dtype=np.int64)[-n1:] if n1 else np.zeros(0, dtype=np.int64)
        V = self.vocab_size
        hist = np.zeros((V, n1), dtype=np.int64)
        if len(h):
            hist[:, n1 - len(h) :] = h
        return self._interpolate(hist, np.full(V, len(h)), np.arange(V))

    def sample(self, history: np.ndarray, length: int, rng: np.random.Generator, temperature: float = 1.0) -> list[int]:
        """Draw ``length`` ids after ``history``; temperature 0 takes the most probable id."""
        out = [int(t) for t in history]
        for _ in range(length):
            p = self.distribution(np.array(out[-self.order :] if self.order > 1 else [], dtype=np.int64))
            if temperature == 0:
                nxt = int(np.argmax(p))
            else:
                logits = np.log(p) / temperature
                q = np.exp(logits - logits.max())
                nxt = int(rng.choice(self.vocab_size, p=q / q.sum()))
            out.append(nxt)
        return out[len(history) :]

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str], extra: dict[str, np.ndarray]) -> None:
        """Write the counts (and ``extra`` arrays, e.g. the vocabulary) to an ``.npz``, atomically."""
        from netanatomy.atomic import write_with

        self._check_fitted()
        arrays: dict[str, Any] = {"order": np.array(self.order), "vocab_size": np.array(self.vocab_size),
                                  "modified": np.array(self.modified), **extra}
        for k, o in enumerate(self.orders, start=1):
            arrays[f"keys{k}"], arrays[f"counts{k}"] = o.keys, o.counts
        write_with(path, lambda f: np.savez_compressed(f, **arrays), suffix=".npz")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> tuple[KneserNey, dict[str, np.ndarray]]:
        """Read a model written by :meth:`save`; returns it and the whole archive."""
        try:
            z = dict(np.load(path, allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read n-gram model {path}: {exc}; train one with `netanatomy ngram train`") from None
        if "order" not in z:
            raise UserError(f"{path} is not an n-gram model written by `netanatomy ngram train`")
        model = cls(int(z["order"]), int(z["vocab_size"]), bool(z["modified"]))
        V = model.vocab_size
        model.orders = [_make_order(z[f"keys{k}"], z[f"counts{k}"], V, model.modified) for k in range(1, model.order + 1)]
        return model, z
