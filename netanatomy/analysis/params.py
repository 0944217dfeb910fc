"""Parameter counts with the formula behind each number.

A *rule* writes a module's formula from the layer's definition (the paper's or PyTorch's
documentation), not from its tensors' shapes: convolutions (any dimension, transposed, grouped),
linear and bilinear layers, batch/instance/group/layer/RMS norms, embeddings, and the RNN, GRU and
LSTM layers and cells (bidirectional, stacked, with or without bias, LSTM projections).
:func:`formula` uses the module's rule when its value equals the module's own parameter count;
otherwise (no rule for the type, or a subclass whose extra parameters the rule does not know) it
falls back to one term per parameter tensor, the product of its shape. ``Formula.source`` says
which: the rule's name, or ``"shapes"``. The tests (``tests/test_analysis_formulas.py``) assert
that every module type with a rule gets that rule, never the fallback, across the whole zoo and a
grid of configurations, and that the rule's value equals the real module's ``numel`` (term by
term for the recurrent layers), with hand derivations for a few.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from netanatomy.capture.torch_private import ConvNd, NormBase

DOT = "·"

#: ``Formula.source`` of the fallback: no rule, each parameter counted by its shape.
SHAPES = "shapes"


def _n(x: int) -> str:
    return f"{x:,}"


@dataclass(frozen=True)
class Term:
    """One labelled product, e.g. ``weight: 3·3·3·64 = 1,728``."""

    label: str
    factors: tuple[int, ...]

    @property
    def value(self) -> int:
        return math.prod(self.factors)  # 1·f0·f1·..., in C (the summary asks it of every term)

    def text(self) -> str:
        return DOT.join(map(str, self.factors))


@dataclass(frozen=True)
class Formula:
    """The parameter count of one module's own parameters, as a sum of products."""

    terms: tuple[Term, ...]
    note: str = ""  # e.g. which factor is which, or "shared with ..."
    #: A shorter equivalent of the sum of terms, for tables (e.g. RNNs: G·H·(I + H + 2) per layer).
    compact: str = ""
    #: What produced it: the name of the rule (``"conv"``, ``"rnn"``, ...; see ``RULES``), or
    #: ``SHAPES`` when the terms are the parameter tensors' shapes.
    source: str = SHAPES

    @property
    def from_rule(self) -> bool:
        """True when a rule written from the layer's definition produced the formula."""
        return self.source != SHAPES

    @property
    def value(self) -> int:
        return sum(t.value for t in self.terms)

    def text(self) -> str:
        """``3·3·3·64 + 64 = 1,792``."""
        if not self.terms:
            return "0"
        if len(self.terms) == 1 and len(self.terms[0].factors) == 1:
            return _n(self.value)
        body = self.compact or " + ".join([t.text() for t in self.terms])
        return f"{body} = {_n(self.value)}"

    def explain(self) -> str:
        """Each term with its label: ``weight k_h·k_w·C_in·C_out 3·3·3·64 + bias C_out 64``."""
        return " + ".join(f"{t.label} {t.text()}" for t in self.terms)


def _conv(m: nn.Module) -> Formula:
    assert isinstance(m, ConvNd)
    k = tuple(m.kernel_size)
    transposed = m.transposed
    c_in, c_out, g = m.in_channels, m.out_channels, m.groups
    # A conv filter spans every input channel of its group (C_in/groups of them), and there is one
    # filter per output channel: that is why the output depth multiplies the count.
    if transposed:  # weight is C_in x (C_out/groups) x k: one filter per input channel
        w = Term(f"weight {'·'.join('k' for _ in k)}·C_out/g·C_in", (*k, c_out // g, c_in))
    else:
        w = Term(f"weight {'·'.join('k' for _ in k)}·C_in/g·C_out", (*k, c_in // g, c_out))
    terms = [w]
    if m.bias is not None:
        terms.append(Term("bias C_out", (c_out,)))
    note = f"groups={g}: each filter sees {c_in // g} of {c_in} input channels" if g > 1 else ""
    return Formula(tuple(terms), note)


def _linear(m: nn.Module) -> Formula:
    assert isinstance(m, nn.Linear)
    terms = [Term("weight in·out", (m.in_features, m.out_features))]
    if m.bias is not None:
        terms.append(Term("bias out", (m.out_features,)))
    return Formula(tuple(terms))


def _bilinear(m: nn.Module) -> Formula:
    assert isinstance(m, nn.Bilinear)
    terms = [Term("weight in1·in2·out", (m.in1_features, m.in2_features, m.out_features))]
    if m.bias is not None:
        terms.append(Term("bias out", (m.out_features,)))
    return Formula(tuple(terms))


_MISSING = object()


def _norm(m: nn.Module) -> Formula:
    # Batch/instance/group norm: a scale γ and a shift β per channel (running statistics are
    # buffers, not parameters). Layer norm: γ and β per element of normalized_shape (β absent with
    # bias=False); RMS norm (Zhang & Sennrich 2019) has only γ.
    affine = getattr(m, "affine", _MISSING)
    if affine is _MISSING:  # looked up only when needed: a missing attribute raises inside nn.Module
        affine = getattr(m, "elementwise_affine", False)
    if isinstance(m, nn.GroupNorm):
        c = m.num_channels
    elif isinstance(m, (nn.LayerNorm, nn.RMSNorm)):
        c = 1
        for s in m.normalized_shape:
            c *= s
    else:
        c = int(getattr(m, "num_features", 0))
    terms = []
    if affine and getattr(m, "weight", None) is not None:
        terms.append(Term("γ C", (c,)))
    if affine and getattr(m, "bias", None) is not None:
        terms.append(Term("β C", (c,)))
    return Formula(tuple(terms))


def _embedding(m: nn.Module) -> Formula:
    assert isinstance(m, (nn.Embedding, nn.EmbeddingBag))
    return Formula((Term("weight vocab·dim", (m.num_embeddings, m.embedding_dim)),))


_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _rnn(m: nn.Module) -> Formula:
    """Per layer and direction, as PyTorch implements it (docs of nn.LSTM/GRU/RNN):
    W_ih: G·H x I_l, W_hh: G·H x H_r, two bias vectors b_ih and b_hh of G·H each (PyTorch keeps
    both, although one would do), and with proj_size P a W_hr: P x H. G is 4 for LSTM (i, f, g, o
    gates), 3 for GRU (r, z, n), 1 for the tanh/ReLU RNN. I_0 is input_size; deeper layers read the
    previous layer's output, H_out·directions with H_out = P or H."""
    assert isinstance(m, nn.RNNBase)
    g = _GATES[m.mode]
    h, p = m.hidden_size, getattr(m, "proj_size", 0)
    h_out = p if p > 0 else h
    dirs = 2 if m.bidirectional else 1
    terms: list[Term] = []
    compact: list[str] = []
    for layer in range(m.num_layers):
        i_l = m.input_size if layer == 0 else h_out * dirs
        inner = f"{i_l}+{h_out}" + ("+2" if m.bias else "")
        per_layer = f"{g}·{h}·({inner})" + (f"+{p}·{h}" if p > 0 else "")
        compact.append(f"2·({per_layer})" if dirs == 2 else per_layer)
        for d in range(dirs):
            tag = f"l{layer}{' rev' if d else ''}"
            terms.append(Term(f"{tag} W_ih G·H·I", (g, h, i_l)))
            terms.append(Term(f"{tag} W_hh G·H·H_r", (g, h, h_out)))
            if m.bias:
                terms.append(Term(f"{tag} b_ih+b_hh 2·G·H", (2, g, h)))
            if p > 0:
                terms.append(Term(f"{tag} W_hr P·H", (p, h)))
    gate_names = {4: "4 gates i,f,g,o", 3: "3 gates r,z,n", 1: "1 gate"}[g]
    note = f"{gate_names}; per layer G·H·(I + H_r + 2 biases)" + (f" + P·H (proj P={p})" if p else "")
    return Formula(tuple(terms), note, compact=" + ".join(compact))


def _cell(m: nn.Module) -> Formula:
    assert isinstance(m, nn.RNNCellBase)
    g = {nn.LSTMCell: 4, nn.GRUCell: 3}.get(type(m), 1)
    terms = [
        Term("W_ih G·H·I", (g, m.hidden_size, m.input_size)),
        Term("W_hh G·H·H", (g, m.hidden_size, m.hidden_size)),
    ]
    if m.bias:
        terms.append(Term("b_ih+b_hh 2·G·H", (2, g, m.hidden_size)))
    return Formula(tuple(terms))


#: (module type, rule name, rule), tried in order; the first type that matches decides.
RULES: tuple[tuple[type[nn.Module], str, Callable[[nn.Module], Formula]], ...] = (
    (ConvNd, "conv", _conv),
    (nn.Linear, "linear", _linear),
    (nn.Bilinear, "bilinear", _bilinear),
    (NormBase, "norm", _norm),  # BatchNorm*d and InstanceNorm*d
    (nn.GroupNorm, "norm", _norm),
    (nn.LayerNorm, "norm", _norm),
    (nn.RMSNorm, "norm", _norm),
    (nn.Embedding, "embedding", _embedding),
    (nn.EmbeddingBag, "embedding", _embedding),
    (nn.RNNBase, "rnn", _rnn),
    (nn.RNNCellBase, "rnn_cell", _cell),
)


def _generic(own: Sequence[tuple[str, nn.Parameter]]) -> Formula:
    """Any other module: one term per own parameter, its shape's product."""
    return Formula(tuple(Term(name, tuple(p.shape) or (1,)) for name, p in own))


def formula(module: nn.Module, own: Sequence[tuple[str, nn.Parameter]] | None = None) -> Formula:
    """The formula of ``module``'s own (non-recursive) parameters; ``source`` says what made it.

    ``own``: ``list(module.named_parameters(recurse=False))``, when the caller has it already (the
    summary does, for every module).
    """
    if own is None:
        own = list(module.named_parameters(recurse=False))
    count = sum(p.numel() for _, p in own)
    for kind, name, rule in RULES:
        if isinstance(module, kind):
            f = rule(module)
            # A subclass with extra parameters (or a lazy module) falls back to shapes, so the
            # formula never disagrees with the tensors; `source` then tells the fallback apart.
            if f.value == count:
                return Formula(f.terms, f.note, f.compact, name)  # dataclasses.replace, 3x faster
            break
    return _generic(own)


#: The module types that have a rule: any other module without parameters has the empty formula.
RULE_TYPES: tuple[type[nn.Module], ...] = tuple(kind for kind, _, _ in RULES)
