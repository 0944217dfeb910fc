"""A vanilla character RNN in numpy, forward and backward written from the lecture's equations.

    x_t  = one-hot(input_t)
    h_t  = tanh(W_hh h_{t-1} + W_xh x_t + b_h)          (the same W_hh, W_xh at every t)
    y_t  = W_hy h_t + b_y                                (scores)
    p_t  = softmax(y_t),  L = sum_t -log p_t[target_t]  (summed over the sequence)

Back-propagation through time, from the chain rule:

    dL/dy_t   = p_t - onehot(target_t)
    dL/dh_t   = W_hy^T dL/dy_t + W_hh^T da_{t+1}        (the second term comes from the future)
    da_t      = (1 - h_t^2) * dL/dh_t                   (tanh' = 1 - tanh^2)
    dW_hh    += da_t h_{t-1}^T,  dW_xh += da_t x_t^T,  db_h += da_t
    dW_hy    += dL/dy_t h_t^T,   db_y += dL/dy_t

The gradients of a shared weight are *sums* over the time steps: that is what using the same W
at every step means for learning. This module is teaching material and a correctness oracle
for the PyTorch models (tests compare the two on the same weights, and check the backward pass
against numerical gradients). :func:`train_adagrad` is a min-char-rnn-style training loop
(Adagrad, sequences of 25), the baseline of the throughput benchmark.

Mapping to ``torch.nn.RNN``: W_xh = weight_ih_l0, W_hh = weight_hh_l0, b_h = bias_ih_l0 +
bias_hh_l0 (torch keeps two biases; both get the gradient db_h), W_hy/b_y = the decoder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Params = dict[str, np.ndarray]
PARAM_NAMES = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")


def init_params(vocab_size: int, hidden_size: int, rng: np.random.Generator, scale: float = 0.01) -> Params:
    """Small random weights (min-char-rnn's 0.01 scale), zero biases."""
    return {
        "W_xh": rng.standard_normal((hidden_size, vocab_size)) * scale,
        "W_hh": rng.standard_normal((hidden_size, hidden_size)) * scale,
        "b_h": np.zeros(hidden_size),
        "W_hy": rng.standard_normal((vocab_size, hidden_size)) * scale,
        "b_y": np.zeros(vocab_size),
    }


@dataclass
class ForwardCache:
    """What the backward pass needs: inputs, targets, hidden states h_{-1}..h_{T-1}, softmaxes."""

    inputs: np.ndarray
    targets: np.ndarray
    hs: np.ndarray  # (T + 1, H): hs[0] = h_{-1} (the initial state), hs[t + 1] = h_t
    ps: np.ndarray  # (T, V)


def forward(params: Params, inputs: np.ndarray, targets: np.ndarray, h0: np.ndarray) -> tuple[float, ForwardCache]:
    """Summed cross-entropy of ``targets`` given ``inputs`` (int arrays of length T), from ``h0``."""
    W_xh, W_hh, b_h, W_hy, b_y = (params[k] for k in PARAM_NAMES)
    T, H, V = len(inputs), W_hh.shape[0], W_hy.shape[0]
    hs = np.zeros((T + 1, H))
    hs[0] = h0
    ps = np.zeros((T, V))
    loss = 0.0
    for t in range(T):
        # W_xh x_t with one-hot x_t is column inputs[t] of W_xh.
        hs[t + 1] = np.tanh(W_hh @ hs[t] + W_xh[:, inputs[t]] + b_h)
        y = W_hy @ hs[t + 1] + b_y
        e = np.exp(y - y.max())  # shift for stability; the softmax does not change
        ps[t] = e / e.sum()
        loss -= np.log(ps[t, targets[t]])
    return float(loss), ForwardCache(np.asarray(inputs), np.asarray(targets), hs, ps)


def backward(params: Params, cache: ForwardCache) -> Params:
    """Gradients of the summed loss w.r.t. every parameter (BPTT over the whole sequence)."""
    W_hh, W_hy = params["W_hh"], params["W_hy"]
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    da_next = np.zeros(W_hh.shape[0])
    for t in reversed(range(len(cache.inputs))):
        dy = cache.ps[t].copy()
        dy[cache.targets[t]] -= 1.0
        h, h_prev = cache.hs[t + 1], cache.hs[t]
        grads["W_hy"] += np.outer(dy, h)
        grads["b_y"] += dy
        dh = W_hy.T @ dy + W_hh.T @ da_next
        da = (1.0 - h * h) * dh
        grads["W_hh"] += np.outer(da, h_prev)
        grads["W_xh"][:, cache.inputs[t]] += da
        grads["b_h"] += da
        da_next = da
    return grads


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Central differences (f(x + eps) - f(x - eps)) / 2 eps, one entry of ``x`` at a time."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        plus = f()
        x[i] = old - eps
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def train_adagrad(
    tokens: np.ndarray,
    vocab_size: int,
    hidden_size: int = 100,
    seq_len: int = 25,
    steps: int = 100,
    lr: float = 0.1,
    seed: int = 0,
    clip: float = 5.0,
) -> tuple[Params, list[float]]:
    """min-char-rnn-style training: consecutive chunks, hidden state carried, Adagrad, clipping.

    Returns the parameters and the loss per character of every step.
    """
    rng = np.random.default_rng(seed)
    params = init_params(vocab_size, hidden_size, rng)
    memory = {k: np.zeros_like(v) for k, v in params.items()}
    h = np.zeros(hidden_size)
    pos, losses = 0, []
    for _ in range(steps):
        if pos + seq_len + 1 > len(tokens):
            pos, h = 0, np.zeros(hidden_size)
        inputs, targets = tokens[pos : pos + seq_len], tokens[pos + 1 : pos + seq_len + 1]
        loss, cache = forward(params, inputs, targets, h)
        grads = backward(params, cache)
        for k in params:
            np.clip(grads[k], -clip, clip, out=grads[k])  # element-wise, as min-char-rnn does
            memory[k] += grads[k] * grads[k]
            params[k] -= lr * grads[k] / np.sqrt(memory[k] + 1e-8)
        h = cache.hs[-1]
        pos += seq_len
        losses.append(loss / seq_len)
    return params, losses
