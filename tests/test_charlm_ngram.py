"""Kneser-Ney: normalisation, and agreement with a brute-force reading of Chen & Goodman (1998)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from netanatomy.charlm.ngram import KneserNey
from netanatomy.cli.main import main


def _text(seed: int = 0, n: int = 3000, V: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # A Markov chain with a skewed transition matrix, so counts of every size occur.
    P = rng.dirichlet(np.full(V, 0.3), size=V)
    out = [0]
    for _ in range(n - 1):
        out.append(int(rng.choice(V, p=P[out[-1]])))
    return np.array(out)


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("modified", [True, False])
def test_distribution_sums_to_one_for_random_contexts(order: int, modified: bool) -> None:
    V = 9  # two symbols never occur in training
    model = KneserNey(order, V, modified=modified).fit(_text(V=7))
    rng = np.random.default_rng(1)
    for _ in range(25):
        hist = rng.integers(0, V, size=int(rng.integers(0, order + 2)))
        p = model.distribution(hist)
        assert p.shape == (V,) and (p > 0).all()
        assert abs(p.sum() - 1.0) < 1e-12


def _brute_force(train: list[int], order: int, V: int, modified: bool):  # type: ignore[no-untyped-def]
    """Interpolated (modified) KN straight from the formulas, with dictionaries and loops."""
    grams = {k: Counter(tuple(train[i - k + 1 : i + 1]) for i in range(k - 1, len(train))) for k in range(1, order + 1)}
    counts = {order: dict(grams[order])}
    for k in range(1, order):  # continuation counts N1+(• g) = distinct left extensions
        counts[k] = dict(Counter(g[1:] for g in grams[k + 1]))
    disc = {}
    for k, c in counts.items():
        n = Counter(c.values())
        if k == order:  # the paper's formulas apply as written (no degenerate counts-of-counts)
            assert min(n[1], n[2], n[3], n[4]) > 0
        # The paper leaves n1 + 2 n2 = 0 or n_r = 0 undefined (tiny vocabularies at order 1):
        # the module documents Y = 0.5 and D_r = Y there, and keeps D_r inside (0, r).
        Y = n[1] / (n[1] + 2 * n[2]) if n[1] + 2 * n[2] else 0.5
        if modified:
            disc[k] = {r: min(max(r - (r + 1) * Y * n[r + 1] / n[r] if n[r] else Y, 1e-3), r - 1e-3) for r in (1, 2, 3)}
        else:
            disc[k] = {r: min(max(Y, 1e-3), 0.999) for r in (1, 2, 3)}

    def D(k: int, x: float) -> float:
        return 0.0 if x == 0 else disc[k][min(int(x), 3)]

    def p(w: int, h: tuple[int, ...]) -> float:
        k = len(h) + 1
        lower = 1.0 / V if k == 1 else p(w, h[1:])
        rows = {g: v for g, v in counts[k].items() if g[:-1] == h}
        total = sum(rows.values())
        if total == 0:
            return lower
        cw = rows.get((*h, w), 0)
        gamma = sum(D(k, v) for v in rows.values())
        return (cw - D(k, cw) + gamma * lower) / total

    return p


@pytest.mark.parametrize("modified", [True, False])
def test_matches_brute_force(modified: bool) -> None:
    V, order = 6, 3
    train = _text(2, 1500, V)
    test = _text(3, 60, V)
    model = KneserNey(order, V, modified=modified).fit(train)
    p = _brute_force(train.tolist(), order, V, modified)
    got = model.log_probs(test)
    want = [np.log(p(int(test[i]), tuple(int(t) for t in test[max(0, i - order + 1) : i]))) for i in range(len(test))]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_cli_train_eval_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "t.txt"
    text.write_text("to be or not to be, that is the question.\n" * 40, encoding="utf-8")
    model = tmp_path / "m.npz"
    assert main(["ngram", "train", str(text), "--order", "4", "-o", str(model)]) == 0
    train_out = capsys.readouterr().out
    assert main(["ngram", "eval", str(model), str(text)]) == 0
    eval_out = capsys.readouterr().out
    # The same figure from both commands, and a repetitive text is cheap to predict.
    nats = float(eval_out.split("validation split: ")[1].split(" nats")[0])
    assert f"{nats:.4f} nats/char" in train_out and nats < 0.5
    assert main(["ngram", "sample", str(model), "--prime", "to be", "--length", "30", "--temperature", "0"]) == 0
    assert capsys.readouterr().out.startswith("to be or not to be")
