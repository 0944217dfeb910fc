"""Gradient flow through time: ‖∂L_T/∂h_{T−k}‖ and ‖∂L_T/∂x_{T−k}‖ against the lag k.

Back-propagation through a vanilla RNN multiplies the gradient at every step by
W_hhᵀ diag(tanh′): over k steps by k such factors, so its norm shrinks or grows roughly
geometrically — vanishing when the largest singular value of W_hh is below 1 (tanh′ ≤ 1 only
shrinks further), able to explode when it is above 1 (Bengio, Simard & Frasconi 1994; Pascanu,
Mikolov & Bengio 2013, §2.1, whose sufficient condition for vanishing is σ_max(W_hh) < 1/γ with
γ = 1 for tanh). The LSTM's cell state is updated additively, c_t = f ⊙ c_{t−1} + i ⊙ g, so
∂c_t/∂c_{t−1} = diag(f) along that path: with forget gates near 1 the gradient flows
(Hochreiter & Schmidhuber 1997; the lecture's "uninterrupted gradient highway").

The measurement runs the recurrent layer one step at a time, keeps every step's state as a
node of the graph, takes L_T (the cross-entropy of the last prediction, summed over the batch
of independent sequences) and reads each state's gradient. The norm is taken per sequence over
all layers' state (layers·H numbers) and averaged over the batch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from netanatomy.errors import UserError
from netanatomy.zoo.charrnn import CharRNNConfig, build_char_model

#: The zoo's char models by cell type.
CELL_MODELS = {"char_rnn": "rnn", "char_lstm": "lstm", "char_gru": "gru"}


@dataclass
class GradientFlow:
    """Mean gradient norms against the lag k = 0 .. T−1 (k = 0 is the last step)."""

    label: str
    lags: np.ndarray
    #: ‖∂L_T/∂h_{T−k}‖ (all layers' hidden state).
    dh: np.ndarray
    #: ‖∂L_T/∂x_{T−k}‖ (the input vector: one-hot or embedding).
    dx: np.ndarray
    #: ‖∂L_T/∂c_{T−k}‖ for an LSTM's cell state, else None.
    dc: np.ndarray | None = None

    def ratio(self, lag: int, ref: int = 1, of: str = "dh") -> float:
        """Norm at ``lag`` over norm at ``ref`` (e.g. lag 50 relative to lag 1)."""
        v = getattr(self, of)
        if v is None or lag >= len(v) or ref >= len(v):
            return float("nan")
        return float(v[lag] / v[ref]) if v[ref] > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"label": self.label, "lags": self.lags.tolist(), "dh": self.dh.tolist(), "dx": self.dx.tolist()}
        if self.dc is not None:
            d["dc"] = self.dc.tolist()
        return d


def gradient_flow(model: nn.Module, tokens: torch.Tensor, label: str = "", dtype: torch.dtype = torch.float64) -> GradientFlow:
    """Measure the gradient of the last step's loss with respect to every earlier state and input.

    Args:
        model: a zoo char model (``encoder`` → ``rnn`` → ``decoder``); measured on a copy in
            eval mode (no dropout), so the model itself is left untouched.
        tokens: (B, T+1) int64: the inputs are ``tokens[:, :T]``, L_T is the cross-entropy of
            predicting ``tokens[:, T]``.
        label: a name for plots and tables.
        dtype: the precision of the measurement; a float64 copy of the model by default, because
            a vanishing gradient leaves float32's range (1e-38) within about a hundred steps.
    """
    if not isinstance(_module(model, "rnn"), (nn.RNN, nn.LSTM, nn.GRU)):
        raise UserError(f"{type(_module(model, 'rnn')).__name__} is not a recurrent layer this lab can measure")
    if tokens.dim() != 2 or tokens.shape[1] < 2:
        raise UserError("gradient flow needs (batch, T+1) tokens with T >= 1")
    # A copy, so that the model's own weights, mode and gradients are left as they were.
    model = copy.deepcopy(model).to(dtype).eval()
    rnn = model.rnn
    assert isinstance(rnn, (nn.RNN, nn.LSTM, nn.GRU))
    device = next(model.parameters()).device
    idx = tokens.to(device)
    # The input vectors as leaves: a one-hot input has no parameter to carry a gradient.
    x = _module(model, "encoder")(idx[:, :-1]).detach().to(dtype).requires_grad_(True)  # B x T x I
    T = x.shape[1]
    state: Any = None
    hs: list[torch.Tensor] = []
    cs: list[torch.Tensor] = []
    for t in range(T):
        _, state = rnn(x[:, t : t + 1], state)
        h, c = state if isinstance(state, tuple) else (state, None)
        h.retain_grad()
        hs.append(h)
        if c is not None:
            c.retain_grad()
            cs.append(c)
    # The last prediction from the state tensor itself (equal to the layer's output at T),
    # so that ∂L_T/∂h_T is a gradient of this node too.
    logits = _module(model, "decoder")(hs[-1][-1])  # B x V
    loss = F.cross_entropy(logits, idx[:, -1], reduction="sum")
    loss.backward()

    def norms(ts: list[torch.Tensor]) -> np.ndarray:
        # state tensors are layers x B x H: one norm per sequence over all layers, then the mean
        per_t = [torch.zeros(idx.shape[0]) if g is None else g.detach().permute(1, 0, 2).reshape(idx.shape[0], -1).norm(dim=1).cpu()
                 for g in (t.grad for t in ts)]
        return torch.stack(per_t[::-1]).mean(dim=1).double().numpy()  # reversed: index = lag

    assert x.grad is not None
    dx = x.grad.detach().norm(dim=2).mean(dim=0).cpu().double().numpy()[::-1].copy()
    return GradientFlow(label=label, lags=np.arange(T), dh=norms(hs), dx=dx, dc=norms(cs) if cs else None)


def _module(model: nn.Module, name: str) -> nn.Module:
    """A named sub-module of a zoo char model (``encoder``, ``rnn``, ``decoder``)."""
    m = getattr(model, name, None)
    if not isinstance(m, nn.Module):
        raise UserError(f"{type(model).__name__} has no `{name}` module: not a zoo char model (char_rnn/lstm/gru)")
    return m


def sample_windows(tokens: np.ndarray, lags: int, batch: int, generator: torch.Generator) -> torch.Tensor:
    """``batch`` windows of ``lags + 1`` consecutive tokens at random offsets: (batch, lags + 1)."""
    if len(tokens) < lags + 1:
        raise UserError(f"the text has {len(tokens)} characters, fewer than --lags + 1 = {lags + 1}; "
                        "use a longer text or fewer --lags")
    starts = torch.randint(0, len(tokens) - lags, (batch,), generator=generator).tolist()
    return torch.from_numpy(np.stack([np.asarray(tokens[s : s + lags + 1], dtype=np.int64) for s in starts]))


# ----------------------------------------------------------------------------- W_hh
@dataclass
class Spectrum:
    """Of a vanilla RNN layer's W_hh: the spectral radius max|λ| and the largest singular value."""

    layer: int
    spectral_radius: float
    sigma_max: float


def recurrent_spectrum(model: nn.Module) -> list[Spectrum]:
    """Spectral radius and σ_max of W_hh for every layer of a vanilla RNN (empty for LSTM/GRU,
    whose weight_hh stacks the gates' matrices and is not one step's Jacobian)."""
    rnn = model.rnn
    if not isinstance(rnn, nn.RNN):
        return []
    out = []
    for layer in range(rnn.num_layers):
        w = getattr(rnn, f"weight_hh_l{layer}").detach().double().cpu()
        radius = float(torch.linalg.eigvals(w).abs().max())
        sigma = float(torch.linalg.svdvals(w)[0])
        out.append(Spectrum(layer, radius, sigma))
    return out


# ----------------------------------------------------------------------------- equal budgets
def char_param_count(cell: str, vocab_size: int, hidden_size: int, num_layers: int = 1, embedding_dim: int = 0) -> int:
    """Parameters of the zoo char model, counted on a model built on the meta device (no memory)."""
    with torch.device("meta"):
        model = build_char_model(CharRNNConfig(cell=cell, vocab_size=vocab_size, hidden_size=hidden_size,
                                               num_layers=num_layers, embedding_dim=embedding_dim))
    return sum(p.numel() for p in model.parameters())


def matching_hidden_size(cell: str, target: int, vocab_size: int, num_layers: int = 1, embedding_dim: int = 0) -> int:
    """The hidden size whose parameter count is closest to ``target`` (the count grows with H,
    so a bisection finds the crossing; of its two neighbours the closer one wins, the smaller on a tie)."""
    def count(h: int) -> int:
        return char_param_count(cell, vocab_size, h, num_layers, embedding_dim)

    lo, hi = 1, 2
    while count(hi) < target:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # invariant: count(lo) < target <= count(hi), or lo == 1
        mid = (lo + hi) // 2
        if count(mid) < target:
            lo = mid
        else:
            hi = mid
    if count(lo) >= target:
        return lo
    return lo if target - count(lo) <= count(hi) - target else hi


@dataclass
class Budget:
    """Hidden sizes of the three cells at (nearly) one parameter count."""

    hidden: dict[str, int]
    params: dict[str, int]
    reference: str


def equal_budget(cells: list[str], reference: str, reference_hidden: int, vocab_size: int, num_layers: int = 1,
                 embedding_dim: int = 0) -> Budget:
    """Hidden sizes for ``cells`` matching the parameters of ``reference`` at ``reference_hidden``."""
    target = char_param_count(reference, vocab_size, reference_hidden, num_layers, embedding_dim)
    hidden = {c: reference_hidden if c == reference else matching_hidden_size(c, target, vocab_size, num_layers, embedding_dim)
              for c in cells}
    params = {c: char_param_count(c, vocab_size, h, num_layers, embedding_dim) for c, h in hidden.items()}
    return Budget(hidden=hidden, params=params, reference=reference)


#: One colour per cell in every figure of the lab.
CELL_COLOURS = {"lstm": "tab:blue", "gru": "tab:green", "rnn": "tab:red"}


def cell_colour(label: str) -> str | None:
    """The colour of the cell named in ``label`` ('LSTM trained' -> blue); lstm before rnn, as 'rnn'
    is no substring of the others."""
    return next((c for k, c in CELL_COLOURS.items() if k in label.lower()), None)


def plot_flows(flows: list[GradientFlow], path: str, title: str = "") -> None:
    """Two log-scale panels, ‖∂L_T/∂h_{T−k}‖ and ‖∂L_T/∂x_{T−k}‖ against k, one line per flow
    (dashed: at initialisation, by the label's ``init`` suffix)."""
    from matplotlib.figure import Figure

    from netanatomy.atomic import savefig

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_h, ax_x = fig.subplots(1, 2)
    for f in flows:
        colour = cell_colour(f.label)
        style = "--" if "init" in f.label else "-"
        for ax, v in ((ax_h, f.dh), (ax_x, f.dx)):
            # A norm that underflowed to 0 has no place on a log axis: leave it out of the line.
            ax.plot(f.lags, np.where(v > 0, v, np.nan), style, color=colour, label=f.label)
    ax_h.set(xlabel="lag k (steps back from the loss)", ylabel=r"$\|\partial L_T/\partial h_{T-k}\|$", yscale="log", title="hidden state")
    ax_x.set(xlabel="lag k", ylabel=r"$\|\partial L_T/\partial x_{T-k}\|$", yscale="log", title="input")
    for ax in (ax_h, ax_x):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    savefig(fig, path, dpi=110)
