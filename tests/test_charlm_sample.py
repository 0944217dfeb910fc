"""Sampling: temperature 0 is argmax; draws follow the softmax (chi-square test, fixed seed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare
from torch import nn

from netanatomy.charlm.corpus import Vocabulary
from netanatomy.charlm.sample import explain_line, generate, next_distribution
from netanatomy.zoo.charrnn import CharRNN, CharRNNConfig

VOCAB = Vocabulary(chars=tuple("abcdef"))
LOGITS = torch.tensor([1.0, 2.5, 0.3, -1.0, 2.0, 0.0])


class FixedScores(nn.Module):
    """A 'model' whose scores never change, so every draw comes from the same softmax."""

    def forward(self, idx: torch.Tensor, h: object = None) -> tuple[torch.Tensor, object]:
        return LOGITS.expand(idx.size(0), idx.size(1), -1), h


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def test_temperature_zero_is_argmax_distribution() -> None:
    p = next_distribution(LOGITS, temperature=0)
    assert int(p.argmax()) == 1 and float(p.sum()) == 1.0 and float(p.max()) == 1.0


def test_temperature_zero_generation_is_greedy() -> None:
    torch.manual_seed(0)
    model = CharRNN(CharRNNConfig(cell="gru", vocab_size=6, hidden_size=16, num_layers=1)).eval()
    out = generate(model, VOCAB, "abc", 20, temperature=0, seed=5)
    # Independent greedy loop: re-run the whole prefix every step, take the argmax.
    ids = [0, 1, 2]
    with torch.no_grad():
        for _ in range(20):
            logits, _ = model(torch.tensor([ids]))
            ids.append(int(logits[0, -1].argmax()))
    assert out == VOCAB.decode(ids)


@pytest.mark.parametrize(("temperature", "top_k"), [(1.0, None), (0.5, None), (1.0, 3), (2.0, 2)])
def test_empirical_frequencies_match_softmax(temperature: float, top_k: int | None) -> None:
    n = 6000
    drawn: list[int] = []
    generate(FixedScores(), VOCAB, "a", n, temperature=temperature, top_k=top_k, seed=1234,
             on_step=lambda s: drawn.append(s.drawn))
    z = LOGITS.numpy().astype(np.float64) / temperature
    keep = np.argsort(z)[::-1][: top_k or len(z)]
    expected = np.zeros_like(z)
    expected[keep] = _softmax(z[keep])
    counts = np.bincount(drawn, minlength=6)
    assert counts[expected == 0].sum() == 0  # top-k: nothing outside the k best
    mask = expected > 0
    stat = chisquare(counts[mask], expected[mask] * n)
    assert stat.pvalue > 1e-3, (counts, expected * n)


def test_explain_line_shows_draw_and_rank() -> None:
    from netanatomy.charlm.sample import Step

    probs = torch.softmax(LOGITS.double(), 0)
    line = explain_line(Step(probs=probs, drawn=4), VOCAB, 0, top=3)
    assert "drew    'e'" in line and "rank 2" in line and f"{float(probs[1]):.3f}" in line


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def test_temperature_table_entropy_of_a_fixed_softmax() -> None:
    """Every draw comes from softmax(LOGITS / T): the mean entropy is that one number, by hand."""
    from netanatomy.charlm.sample import temperature_table

    table = temperature_table(FixedScores(), VOCAB, "a", 40, seed=3)
    assert [row.temperature for row in table] == [0.5, 1.0, 1.5]
    for row in table:
        expected = _entropy(_softmax(LOGITS.double().numpy() / row.temperature))
        assert row.entropy_nats == pytest.approx(expected, rel=1e-12)
        assert row.entropy_bits == pytest.approx(expected / np.log(2), rel=1e-12)
        assert row.text.startswith("a") and len(row.text) == 41
    # Sharper at 0.5, flatter at 1.5: the entropy of one softmax grows with the temperature.
    assert table[0].entropy_nats < table[1].entropy_nats < table[2].entropy_nats


def test_temperature_table_entropy_of_a_recurrent_model() -> None:
    """Oracle: one teacher-forced pass over the prime and the sampled text (not the step-by-step
    loop of the sampler), then the entropy of softmax(scores / T) at each generated position."""
    from netanatomy.charlm.sample import temperature_table

    torch.manual_seed(1)
    model = CharRNN(CharRNNConfig(cell="lstm", vocab_size=6, hidden_size=12, num_layers=2, dropout=0.3)).train()
    table = temperature_table(model, VOCAB, "ab", 25, temperatures=(0.5, 1.0, 1.5), seed=9)
    assert model.training  # the caller's mode is given back
    model.eval()
    for row in table:
        ids = VOCAB.encode(row.text).tolist()
        with torch.no_grad():
            scores = model(torch.tensor([ids[:-1]]))[0][0].double().numpy()
        positions = range(len("ab") - 1, len(ids) - 1)  # the scores that drew each generated character
        direct = np.mean([_entropy(_softmax(scores[t] / row.temperature)) for t in positions])
        assert row.entropy_nats == pytest.approx(direct, rel=1e-6)
    again = temperature_table(model, VOCAB, "ab", 25, seed=9)
    assert [r.text for r in again] == [r.text for r in table]  # fixed seed, fixed text
