"""The lecture's toy: a vanilla RNN over the vocabulary [h, e, l, o] learns "hello".

Inputs h, e, l, l; targets e, l, l, o. The same input 'l' must produce 'l' the first time and
'o' the second: only the hidden state can tell them apart, so the model cannot be a function
of the current character alone. Training uses Adagrad as min-char-rnn does; afterwards the
model's own ``nn.RNN`` output is recomputed step by step from the printed matrices
(h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h), y_t = W_hy h_t + b_y), showing that the very same
W_xh, W_hh, W_hy act at every time step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from netanatomy.zoo.charrnn import CharRNN, CharRNNConfig

VOCAB = ("h", "e", "l", "o")
WORD = "hello"


@dataclass
class HelloStep:
    t: int
    input_char: str
    target_char: str
    h: torch.Tensor
    scores: torch.Tensor
    probs: torch.Tensor


@dataclass
class HelloResult:
    model: CharRNN
    losses: list[float]
    matrices: dict[str, torch.Tensor]
    steps: list[HelloStep]
    #: max |h_t from the printed matrices - h_t from nn.RNN| over all steps.
    recompute_error: float


def train_hello(hidden_size: int = 3, steps: int = 300, lr: float = 0.1, seed: int = 0) -> HelloResult:
    """Train the toy and trace one forward pass.

    Args:
        hidden_size: the lecture draws 3 hidden units.
        steps: Adagrad updates on the one sequence.
        lr: Adagrad's learning rate (min-char-rnn's 0.1).
        seed: initialisation seed.
    """
    torch.manual_seed(seed)
    model = CharRNN(CharRNNConfig(cell="rnn", vocab_size=len(VOCAB), hidden_size=hidden_size, num_layers=1))
    ids = torch.tensor([[VOCAB.index(c) for c in WORD]])
    x, y = ids[:, :-1], ids[:, 1:]
    opt = torch.optim.Adagrad(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        logits, _ = model(x)
        loss = F.cross_entropy(logits[0], y[0])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))

    # torch's names -> the lecture's: weight_ih_l0 = W_xh, weight_hh_l0 = W_hh, and the two
    # biases torch keeps (b_ih, b_hh) only ever appear as their sum b_h.
    p = {k: v.detach() for k, v in model.named_parameters()}
    mats = {
        "W_xh": p["rnn.weight_ih_l0"],
        "W_hh": p["rnn.weight_hh_l0"],
        "b_h": p["rnn.bias_ih_l0"] + p["rnn.bias_hh_l0"],
        "W_hy": p["decoder.weight"],
        "b_y": p["decoder.bias"],
    }
    with torch.no_grad():
        logits, _ = model(x)
        outs, _ = model.rnn(F.one_hot(x, len(VOCAB)).float())
    trace, h, err = [], torch.zeros(hidden_size), 0.0
    for t in range(x.size(1)):
        x_t = F.one_hot(x[0, t], len(VOCAB)).float()
        h = torch.tanh(mats["W_hh"] @ h + mats["W_xh"] @ x_t + mats["b_h"])
        scores = mats["W_hy"] @ h + mats["b_y"]
        err = max(err, float((h - outs[0, t]).abs().max()), float((scores - logits[0, t]).abs().max()))
        trace.append(HelloStep(t, WORD[t], WORD[t + 1], h.clone(), scores, torch.softmax(scores, 0)))
    return HelloResult(model, losses, mats, trace, err)


def render(result: HelloResult) -> str:
    """The matrices once, then every time step's hidden state, scores and softmax."""
    def vec(v: torch.Tensor) -> str:
        return "[" + " ".join(f"{float(a):+.2f}" for a in v) + "]"

    def mat(m: torch.Tensor) -> list[str]:
        return ["    " + vec(row) for row in m]

    lines = [f'The lecture\'s toy: vocabulary {list(VOCAB)}, training sequence "{WORD}" '
             f"(inputs {list(WORD[:-1])}, targets {list(WORD[1:])}).",
             f"Adagrad, {len(result.losses)} steps: loss {result.losses[0]:.3f} -> {result.losses[-1]:.4f} nats/char.",
             ""]
    for name in ("W_xh", "W_hh", "W_hy"):
        m = result.matrices[name]
        lines += [f"{name} ({m.shape[0]}x{m.shape[1]}):", *mat(m)]
    lines += [f"b_h = {vec(result.matrices['b_h'])}   b_y = {vec(result.matrices['b_y'])}", "",
              "t  x_t  h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h)   y_t = W_hy h_t + b_y (scores: h e l o)"
              "      softmax(y_t)                 target"]
    for s in result.steps:
        pred = VOCAB[int(torch.argmax(s.probs))]
        mark = "ok" if pred == s.target_char else f"predicts {pred!r}"
        lines.append(f"{s.t}  '{s.input_char}'  {vec(s.h):<40} {vec(s.scores):<32} {vec(s.probs):<28} "
                     f"'{s.target_char}' ({mark})")
    lines += ["",
              "The same W_xh, W_hh and W_hy (printed once above) act at every time step: recomputing each",
              f"step from them matches nn.RNN's own output to {result.recompute_error:.1e}.",
              "At t=2 and t=3 the input is 'l' both times, yet the targets differ ('l' then 'o'):",
              "only the hidden state h_t, which carries what came before, can tell them apart."]
    return "\n".join(lines)
