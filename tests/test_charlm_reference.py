"""The numpy vanilla RNN: its backward pass against numerical gradients and against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import reference_numpy as ref  # tests/reference_numpy.py: the oracle lives with its tests
import torch
import torch.nn.functional as F

from netanatomy.zoo.charrnn import CharRNN, CharRNNConfig

V, H, T = 5, 4, 7


def _setup(seed: int = 0) -> tuple[ref.Params, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = ref.init_params(V, H, rng, scale=0.5)  # large enough that tanh is not linear
    params["b_h"] = rng.standard_normal(H) * 0.3
    params["b_y"] = rng.standard_normal(V) * 0.3
    seq = rng.integers(0, V, size=T + 1)
    h0 = rng.standard_normal(H) * 0.5
    return params, seq[:-1], seq[1:], h0


def test_backward_matches_central_differences() -> None:
    params, x, y, h0 = _setup()
    _, cache = ref.forward(params, x, y, h0)
    grads = ref.backward(params, cache)
    eps = 1e-6
    for name, p in params.items():
        numeric = np.zeros_like(p)
        for i in np.ndindex(p.shape):  # the oracle: (L(w + eps) - L(w - eps)) / 2 eps, written here
            old = p[i]
            p[i] = old + eps
            plus = ref.forward(params, x, y, h0)[0]
            p[i] = old - eps
            minus = ref.forward(params, x, y, h0)[0]
            p[i] = old
            numeric[i] = (plus - minus) / (2 * eps)
        rel = np.abs(grads[name] - numeric).max() / max(1e-12, np.abs(numeric).max())
        assert rel < 1e-6, (name, rel)


def test_module_numerical_gradient_helper_agrees_with_backward() -> None:
    params, x, y, h0 = _setup(1)
    grads = ref.backward(params, ref.forward(params, x, y, h0)[1])
    num = ref.numerical_gradient(lambda: ref.forward(params, x, y, h0)[0], params["W_hh"])
    np.testing.assert_allclose(grads["W_hh"], num, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("seed", [0, 3])
def test_numpy_and_torch_gradients_agree(seed: int) -> None:
    params, x, y, h0 = _setup(seed)
    loss_np, cache = ref.forward(params, x, y, h0)
    grads = ref.backward(params, cache)

    model = CharRNN(CharRNNConfig(cell="rnn", vocab_size=V, hidden_size=H, num_layers=1)).double()
    with torch.no_grad():
        model.rnn.weight_ih_l0.copy_(torch.from_numpy(params["W_xh"]))
        model.rnn.weight_hh_l0.copy_(torch.from_numpy(params["W_hh"]))
        model.rnn.bias_ih_l0.copy_(torch.from_numpy(params["b_h"]))
        model.rnn.bias_hh_l0.zero_()
        model.decoder.weight.copy_(torch.from_numpy(params["W_hy"]))
        model.decoder.bias.copy_(torch.from_numpy(params["b_y"]))
    # The one-hot encoder makes float32; nn.RNN in float64 needs float64 input.
    xs = F.one_hot(torch.from_numpy(x)[None], V).double()
    out, _ = model.rnn(xs, torch.from_numpy(h0)[None, None])
    logits = model.decoder(out)[0]
    loss = F.cross_entropy(logits, torch.from_numpy(y), reduction="sum")
    loss.backward()
    assert abs(loss.item() - loss_np) < 1e-10
    pairs = {
        "W_xh": model.rnn.weight_ih_l0.grad,
        "W_hh": model.rnn.weight_hh_l0.grad,
        "b_h": model.rnn.bias_ih_l0.grad,
        "W_hy": model.decoder.weight.grad,
        "b_y": model.decoder.bias.grad,
    }
    for name, g in pairs.items():
        assert g is not None
        np.testing.assert_allclose(g.numpy(), grads[name], rtol=1e-9, atol=1e-12, err_msg=name)
    # torch's second bias receives the same gradient as the first (b_h = b_ih + b_hh).
    assert model.rnn.bias_hh_l0.grad is not None
    np.testing.assert_allclose(model.rnn.bias_hh_l0.grad.numpy(), grads["b_h"], rtol=1e-9, atol=1e-12)


def test_min_char_rnn_loop_learns_a_repeating_text() -> None:
    tokens = np.array([0, 1, 2, 3, 2] * 60)
    _, losses = ref.train_adagrad(tokens, vocab_size=4, hidden_size=16, seq_len=10, steps=150, seed=0)
    assert losses[0] > 1.2  # about ln 4 = 1.386 at the start
    assert np.mean(losses[-10:]) < 0.2
