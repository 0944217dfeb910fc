"""The char-RNN lab's numbers against independent oracles: surprisal vs a hand-written forward
pass and the n-gram's own scoring, a planted quote cell, gradient flow vs W_hh = a·I and vs
autograd taken directly, equal parameter budgets vs brute force, W_hh's spectrum vs numpy."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from netanatomy.charlm.cells import search_cells, unit_activations
from netanatomy.charlm.corpus import Vocabulary
from netanatomy.charlm.gradflow import (
    char_param_count,
    equal_budget,
    gradient_flow,
    matching_hidden_size,
    recurrent_spectrum,
)
from netanatomy.charlm.ngram import KneserNey
from netanatomy.charlm.surprisal import encode_passage, model_surprisal, ngram_surprisal
from netanatomy.errors import UserError
from netanatomy.zoo.charrnn import CharRNNConfig, build_char_model


def _model(cell: str, vocab: int = 7, hidden: int = 10, layers: int = 2, seed: int = 0, embedding: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_char_model(CharRNNConfig(cell=cell, vocab_size=vocab, hidden_size=hidden, num_layers=layers,
                                          embedding_dim=embedding)).eval()


# ----------------------------------------------------------------------------- surprisal
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_surprisal_is_the_cross_entropy_of_a_plain_forward_pass(cell: str) -> None:
    model = _model(cell)
    tokens = np.random.default_rng(1).integers(0, 7, size=40)
    s = model_surprisal(model, tokens)
    # The oracle: one-hot inputs through the recurrent layer and the decoder, written out here.
    x = F.one_hot(torch.tensor(tokens[:-1]), 7).float()[None]
    with torch.no_grad():
        out, _ = model.rnn(x)
        logp = torch.log_softmax(model.decoder(out)[0].double(), dim=-1)
    expected = -logp[torch.arange(39), torch.tensor(tokens[1:])]
    np.testing.assert_allclose(s.nats, expected.numpy(), rtol=1e-5, atol=1e-6)
    assert s.mean_nats == pytest.approx(float(expected.mean()), rel=1e-6)
    top = torch.topk(logp.exp(), 5)
    np.testing.assert_array_equal(s.top_ids, top.indices.numpy())
    np.testing.assert_allclose(s.top_probs, top.values.numpy(), rtol=1e-6)


def test_ngram_surprisal_is_what_its_own_scoring_gives() -> None:
    rng = np.random.default_rng(2)
    train = rng.integers(0, 5, size=3000)
    val = rng.integers(0, 5, size=200)
    kn = KneserNey(4, 5).fit(train)
    s = ngram_surprisal(kn, val, context=train)
    # `ngram eval` scores every validation symbol with the training text as context.
    eval_nats = -kn.log_probs(val, context=train)
    np.testing.assert_allclose(s.nats, eval_nats[1:], rtol=1e-12)
    dist = kn.next_distributions(val, context=train)
    np.testing.assert_allclose(dist.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(dist[np.arange(200), val], np.exp(-eval_nats), rtol=1e-12)


def test_characters_outside_the_vocabulary_are_named_with_their_positions() -> None:
    vocab = Vocabulary(chars=tuple("\n abc"))
    with pytest.raises(UserError) as e:
        encode_passage("abc\nab#c\nxx", vocab, source="t.txt")
    msg = str(e.value)
    # '#' is line 2, column 3 (offset 6); 'x' at 3:1 (offset 9) and 3:2 (offset 10): counted by hand.
    assert "'#' at 2:3 (offset 6)" in msg and "'x' at 3:1 (offset 9), 3:2 (offset 10)" in msg
    assert "2 character(s)" in msg


# ----------------------------------------------------------------------------- the planted cell
def _quote_text(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = ["ab", "cab", "ba", "c", "abc"]
    parts = []
    while sum(map(len, parts)) < n:
        w = " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
        parts.append(f'"{w}" ' if rng.random() < 0.5 else w + " ")
        if rng.random() < 0.2:
            parts.append("\n")
    return "".join(parts)[:n]


def test_cell_search_ranks_a_planted_quote_cell_first() -> None:
    text = _quote_text(600)
    vocab = Vocabulary(chars=tuple(sorted(set(text))))
    tokens = encode_passage(text, vocab)
    H, k, q, B, K = 8, 5, vocab.chars.index('"'), 20.0, 20.0  # type: ignore[union-attr]
    model = _model("lstm", vocab=vocab.size, hidden=H, layers=1, seed=3)
    rnn = model.rnn
    with torch.no_grad():
        # Unit k (gate rows k, H+k, 2H+k, 3H+k = input, forget, cell, output in torch's layout):
        # at a quote, forget (f = 0) and write g; elsewhere keep (f = 1, i = 0). g = tanh(K (0.3 - h_k))
        # is +1 when the cell was off (h_k <= 0) and -1 when it was on: the cell toggles at each quote.
        for gate in range(4):
            rnn.weight_ih_l0[gate * H + k].zero_()
            rnn.weight_hh_l0[gate * H + k].zero_()
            rnn.bias_ih_l0[gate * H + k] = 0.0
            rnn.bias_hh_l0[gate * H + k] = 0.0
        rnn.weight_ih_l0[k, q], rnn.bias_ih_l0[k] = 2 * B, -B  # input gate open only at a quote
        rnn.weight_ih_l0[H + k, q], rnn.bias_ih_l0[H + k] = -2 * B, B  # forget gate shut only at a quote
        rnn.weight_hh_l0[2 * H + k, k], rnn.bias_ih_l0[2 * H + k] = -K, 0.3 * K
        rnn.bias_ih_l0[3 * H + k] = B  # output gate always open
    acts = unit_activations(model, tokens)
    found = {r.feature: r for r in search_cells(acts, text)}["inside_quotes"]
    assert found.present
    assert {found.best[0].unit, found.best[1].unit} == {f"l0.c{k}", f"l0.h{k}"}, found.best
    # The correlation recomputed here: h from one whole-sequence forward pass, the feature by hand.
    inside, feature = False, []
    for c in text:
        inside = (not inside) if c == '"' else inside
        feature.append(float(inside))
    with torch.no_grad():
        out, _ = rnn(F.one_hot(torch.tensor(tokens), vocab.size).float()[None])
    r = np.corrcoef(out[0, :, k].double().numpy(), np.array(feature))[0, 1]
    reported = {u.unit: u.r for u in found.best}[f"l0.h{k}"]
    assert reported == pytest.approx(r, abs=1e-9)
    assert r > 0.9


def test_unit_names_are_checked() -> None:
    acts = unit_activations(_model("gru", hidden=4), np.arange(7))
    assert acts.unit("l1.h3").shape == (7,)
    for bad, needle in (("c1", "only in an LSTM"), ("l2.h0", "does not exist"), ("x9", "form")):
        with pytest.raises(UserError, match=needle):
            acts.unit(bad)


# ----------------------------------------------------------------------------- gradient flow
@pytest.mark.parametrize("a", [0.5, 0.9, 1.1])
def test_linear_rnn_gradient_ratio_per_step_is_a(a: float) -> None:
    model = _model("rnn", vocab=5, hidden=6, layers=1)
    # A linear RNN: ReLU with every pre-activation positive is the identity, so ∂h_t/∂h_{t-1} = a·I.
    model.rnn = nn.RNN(5, 6, nonlinearity="relu", batch_first=True)
    with torch.no_grad():
        model.rnn.weight_hh_l0.copy_(a * torch.eye(6))
        model.rnn.weight_ih_l0.uniform_(0.1, 1.0)
        model.rnn.bias_ih_l0.fill_(0.1)
        model.rnn.bias_hh_l0.fill_(0.1)
    flow = gradient_flow(model, torch.randint(0, 5, (3, 26), generator=torch.Generator().manual_seed(0)))
    # Measured in float64 on the float32 weights: the ratio is a as float32 stores it, to 1e-12.
    a32 = float(np.float32(a))
    np.testing.assert_allclose(flow.dh[1:] / flow.dh[:-1], a32, rtol=1e-12)
    np.testing.assert_allclose(flow.dx[1:] / flow.dx[:-1], a32, rtol=1e-12)
    (spec,) = recurrent_spectrum(model)
    assert spec.spectral_radius == pytest.approx(a, rel=1e-6) and spec.sigma_max == pytest.approx(a, rel=1e-6)


@pytest.mark.parametrize("embedding", [0, 4])
def test_lstm_gradient_flow_equals_autograd_taken_directly(embedding: int) -> None:
    model = _model("lstm", vocab=6, hidden=5, layers=2, seed=4, embedding=embedding)
    tokens = torch.randint(0, 6, (3, 13), generator=torch.Generator().manual_seed(1))
    flow = gradient_flow(model, tokens)  # in float64, on a copy of the model
    model = model.double()
    T = 12
    x = model.encoder(tokens[:, :-1]).detach().double()

    def last_loss(out: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model.decoder(out[:, -1]), tokens[:, -1], reduction="sum")

    # ∂L_T/∂x: one whole-sequence call of nn.LSTM with the inputs as leaves.
    xl = x.clone().requires_grad_(True)
    last_loss(model.rnn(xl)[0]).backward()
    dx = xl.grad.norm(dim=2).mean(dim=0).numpy()[::-1]  # type: ignore[union-attr]
    np.testing.assert_allclose(flow.dx, dx, rtol=1e-10)
    # ∂L_T/∂h_{T-k}, ∂L_T/∂c_{T-k}: run the first T-k inputs, cut the graph there, run the rest.
    for k in (1, 2, 5, 11):
        _, (h, c) = model.rnn(x[:, : T - k])
        h, c = h.detach().requires_grad_(True), c.detach().requires_grad_(True)
        last_loss(model.rnn(x[:, T - k :], (h, c))[0]).backward()
        for got, grad in ((flow.dh[k], h.grad), (flow.dc[k], c.grad)):  # type: ignore[index]
            want = grad.permute(1, 0, 2).reshape(3, -1).norm(dim=1).mean()  # type: ignore[union-attr]
            assert got == pytest.approx(float(want), rel=1e-10)


def test_spectrum_matches_numpy() -> None:
    model = _model("rnn", hidden=9, layers=2, seed=5)
    for spec in recurrent_spectrum(model):
        w = getattr(model.rnn, f"weight_hh_l{spec.layer}").detach().double().numpy()
        assert spec.spectral_radius == pytest.approx(np.abs(np.linalg.eigvals(w)).max(), rel=1e-10)
        assert spec.sigma_max == pytest.approx(np.linalg.svd(w, compute_uv=False)[0], rel=1e-10)
    assert recurrent_spectrum(_model("lstm")) == []


@pytest.mark.parametrize(("cell", "vocab", "layers"), [("rnn", 65, 1), ("gru", 65, 2), ("rnn", 30, 2)])
def test_matching_hidden_size_is_the_closest_by_brute_force(cell: str, vocab: int, layers: int) -> None:
    target = char_param_count("lstm", vocab, 64, layers)
    h = matching_hidden_size(cell, target, vocab, layers)

    def real(hidden: int) -> int:  # counted on a real model, not through the function under test
        return sum(p.numel() for p in _model(cell, vocab=vocab, hidden=hidden, layers=layers).parameters())

    best = min(range(1, 400), key=lambda s: (abs(real(s) - target), s))
    assert h == best
    budget = equal_budget(["rnn", "gru", "lstm"], "lstm", 64, vocab, layers)
    assert budget.params[cell] == real(budget.hidden[cell])
