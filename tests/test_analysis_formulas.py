"""Parameter formulas: the *rule* of each module type is used, never the shape fallback, and is right.

``formula()`` falls back to the tensors' shapes when no rule covers a module or its rule
disagrees with the tensors, and says so in ``Formula.source``. So "value == numel" alone proves
nothing; every test here also asserts that the rule produced the formula. The oracles: a hand
derivation written in the test, and the ``numel`` of the real PyTorch module (for the recurrent
layers, term by term against the tensors each term stands for).
"""

from __future__ import annotations

import re

import pytest
from torch import nn

from netanatomy.analysis.params import SHAPES, formula
from netanatomy.zoo import create_model, list_models


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False))


def assert_rule(module: nn.Module, rule: str, by_hand: int | None = None) -> None:
    """``module``'s formula comes from ``rule`` and equals the module's parameters (and ``by_hand``)."""
    f = formula(module)
    assert f.source == rule and f.from_rule, (module, f.source, f.explain())
    assert f.value == numel(module), (module, f.explain())
    if by_hand is not None:
        assert f.value == by_hand, (module, f.explain())


# The rule each module type of the zoo must get (most derived type first).
ZOO_RULES: tuple[tuple[type[nn.Module], str], ...] = (
    (nn.modules.conv._ConvNd, "conv"),
    (nn.Linear, "linear"),
    (nn.modules.batchnorm._NormBase, "norm"),
    (nn.Embedding, "embedding"),
    (nn.RNNBase, "rnn"),
)


@pytest.mark.parametrize("name", list_models())
def test_every_zoo_module_with_parameters_gets_its_rule(name: str) -> None:
    model = create_model(name, device="meta", **({"embedding_dim": 16} if name.startswith("char_") else {}))
    checked = 0
    for path, module in model.named_modules():
        if not numel(module):
            continue
        rule = next((r for kind, r in ZOO_RULES if isinstance(module, kind)), None)
        assert rule is not None, f"{name}.{path}: {type(module).__name__} has parameters but no rule is expected"
        assert_rule(module, rule)
        checked += 1
    assert checked > 0


# --- recurrent layers ------------------------------------------------------------------------------

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def rnn_by_hand(kind: str, i: int, h: int, layers: int, bidirectional: bool, bias: bool, proj: int) -> int:
    """PyTorch's nn.RNN/GRU/LSTM docs: per layer and direction W_ih (G·H x I_l), W_hh (G·H x H_out),
    b_ih and b_hh (G·H each), and with proj_size P a W_hr (P x H); H_out = P or H, and layer l > 0
    reads the previous layer's H_out·directions outputs."""
    g, dirs = GATES[kind], 2 if bidirectional else 1
    h_out = proj or h
    total = 0
    for layer in range(layers):
        i_l = i if layer == 0 else h_out * dirs
        per_direction = g * h * i_l + g * h * h_out + (2 * g * h if bias else 0) + (proj * h if proj else 0)
        total += dirs * per_direction
    return total


_RNN_GRID = [
    (kind, layers, bidirectional, bias, proj)
    for kind in ("RNN", "GRU", "LSTM")
    for layers in (1, 3)
    for bidirectional in (False, True)
    for bias in (True, False)
    for proj in ((0, 3) if kind == "LSTM" else (0,))
]


@pytest.mark.parametrize(("kind", "layers", "bidirectional", "bias", "proj"), _RNN_GRID)
def test_recurrent_rule(kind: str, layers: int, bidirectional: bool, bias: bool, proj: int) -> None:
    extra = {"proj_size": proj} if proj else {}
    module = getattr(nn, kind)(7, 5, num_layers=layers, bidirectional=bidirectional, bias=bias, **extra)
    assert_rule(module, "rnn", rnn_by_hand(kind, 7, 5, layers, bidirectional, bias, proj))
    # Term by term: each term is the size of the tensors it names ("l1 rev W_hh" -> weight_hh_l1_reverse).
    params = dict(module.named_parameters())
    tensors = {"W_ih": ["weight_ih"], "W_hh": ["weight_hh"], "W_hr": ["weight_hr"], "b_ih+b_hh": ["bias_ih", "bias_hh"]}
    terms = formula(module).terms
    for term in terms:
        m = re.fullmatch(r"l(\d+)( rev)? (W_ih|W_hh|W_hr|b_ih\+b_hh) .*", term.label)
        assert m, term.label
        suffix = f"_l{m[1]}" + ("_reverse" if m[2] else "")
        assert term.value == sum(params[t + suffix].numel() for t in tensors[m[3]]), term.label
    # Per layer and direction: W_ih, W_hh, the two biases as one term, W_hr.
    assert len(terms) == layers * (2 if bidirectional else 1) * (2 + bias + (proj > 0))


def test_lstm_300_512_2_by_hand() -> None:
    # 4 gates x 512 x (300 inputs + 512 recurrent + 2 biases), then layer 1 reads layer 0's 512.
    assert 4 * 512 * (300 + 512 + 2) + 4 * 512 * (512 + 512 + 2) == 3_768_320
    module = nn.LSTM(300, 512, 2)
    assert_rule(module, "rnn", 3_768_320)
    assert formula(module).text() == "4·512·(300+512+2) + 4·512·(512+512+2) = 3,768,320"


def test_lstm_projection_and_bidirectional_by_hand() -> None:
    # LSTM(10, 20, 2, proj 5): W_hh is 4H x P = 80x5 and W_hr P x H = 5x20; layer 1 reads P = 5.
    assert_rule(nn.LSTM(10, 20, num_layers=2, proj_size=5),
                "rnn", (4 * 20 * (10 + 5 + 2) + 5 * 20) + (4 * 20 * (5 + 5 + 2) + 5 * 20))
    # Bidirectional: layer 1 of both directions reads 2·P = 10 inputs.
    assert_rule(nn.LSTM(10, 20, num_layers=2, proj_size=5, bidirectional=True),
                "rnn", 2 * (4 * 20 * (10 + 5 + 2) + 5 * 20) + 2 * (4 * 20 * (10 + 5 + 2) + 5 * 20))
    # GRU(10, 20, 2, bidirectional): 3 gates; layer 1 reads 2·20 = 40.
    assert_rule(nn.GRU(10, 20, num_layers=2, bidirectional=True), "rnn",
                2 * 3 * 20 * (10 + 20 + 2) + 2 * 3 * 20 * (40 + 20 + 2))
    # ReLU RNN without bias: 3·4 + 3·3.
    assert_rule(nn.RNN(4, 3, nonlinearity="relu", bias=False), "rnn", 3 * 4 + 3 * 3)


@pytest.mark.parametrize("kind", ["RNN", "GRU"])
def test_projection_exists_only_for_lstm(kind: str) -> None:
    # PyTorch refuses proj_size for RNN and GRU, so the rule's W_hr term only ever applies to LSTMs.
    with pytest.raises(ValueError, match="proj_size"):
        getattr(nn, kind)(4, 8, proj_size=2)


@pytest.mark.parametrize(
    ("module", "by_hand"),
    [
        (nn.RNNCell(6, 4), 4 * 6 + 4 * 4 + 2 * 4),
        (nn.RNNCell(6, 4, bias=False), 4 * 6 + 4 * 4),
        (nn.GRUCell(6, 4), 3 * 4 * (6 + 4 + 2)),
        (nn.LSTMCell(6, 4), 4 * 4 * (6 + 4 + 2)),
        (nn.LSTMCell(6, 4, bias=False), 4 * 4 * (6 + 4)),
    ],
    ids=["rnn_cell", "rnn_cell_nobias", "gru_cell", "lstm_cell", "lstm_cell_nobias"],
)
def test_recurrent_cell_rule(module: nn.Module, by_hand: int) -> None:
    assert_rule(module, "rnn_cell", by_hand)


# --- norms -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "by_hand"),
    [
        # γ and β per channel; the running mean and variance are buffers.
        (nn.BatchNorm1d(12), 2 * 12),
        (nn.BatchNorm2d(64), 2 * 64),
        (nn.BatchNorm3d(5), 2 * 5),
        (nn.BatchNorm2d(64, affine=False), 0),
        (nn.BatchNorm2d(64, track_running_stats=False), 2 * 64),
        # Instance norm: no γ/β unless affine=True (PyTorch's default is affine=False).
        (nn.InstanceNorm1d(7), 0),
        (nn.InstanceNorm2d(7, affine=True), 2 * 7),
        (nn.InstanceNorm3d(7, affine=True), 2 * 7),
        # Group norm: γ and β per channel, not per group.
        (nn.GroupNorm(4, 32), 2 * 32),
        (nn.GroupNorm(4, 32, affine=False), 0),
        # Layer norm: γ and β per element of normalized_shape.
        (nn.LayerNorm(10), 2 * 10),
        (nn.LayerNorm((4, 5)), 2 * 4 * 5),
        (nn.LayerNorm((4, 5), bias=False), 4 * 5),
        (nn.LayerNorm(10, elementwise_affine=False), 0),
        # RMS norm: γ only.
        (nn.RMSNorm((4, 5)), 4 * 5),
        (nn.RMSNorm(6, elementwise_affine=False), 0),
    ],
    ids=lambda v: repr(v) if isinstance(v, nn.Module) else str(v),
)
def test_norm_rule(module: nn.Module, by_hand: int) -> None:
    assert_rule(module, "norm", by_hand)


# --- embeddings, convolutions, linear layers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "by_hand"),
    [
        (nn.Embedding(65, 16), 65 * 16),
        # padding_idx keeps its row (zeroed, never updated) in the weight matrix: still vocab·dim.
        (nn.Embedding(65, 16, padding_idx=0), 65 * 16),
        (nn.Embedding(65, 16, max_norm=1.0), 65 * 16),
        (nn.EmbeddingBag(100, 8, mode="mean"), 100 * 8),
    ],
    ids=["embedding", "padding_idx", "max_norm", "embedding_bag"],
)
def test_embedding_rule(module: nn.Module, by_hand: int) -> None:
    assert_rule(module, "embedding", by_hand)


@pytest.mark.parametrize(
    ("module", "by_hand"),
    [
        (nn.Conv1d(3, 8, 5), 5 * 3 * 8 + 8),
        (nn.Conv2d(3, 64, 3), 3 * 3 * 3 * 64 + 64),
        (nn.Conv2d(3, 64, (7, 1), bias=False), 7 * 1 * 3 * 64),
        (nn.Conv3d(2, 4, 3, bias=False), 3 * 3 * 3 * 2 * 4),
        # groups=g: each filter sees C_in/g channels (ResNeXt's 32 groups of 4; depthwise).
        (nn.Conv2d(128, 128, 3, groups=32, bias=False), 3 * 3 * (128 // 32) * 128),
        (nn.Conv2d(16, 16, 3, groups=16), 3 * 3 * 1 * 16 + 16),
        (nn.Conv1d(6, 9, 4, groups=3, dilation=2), 4 * 2 * 9 + 9),
        # Transposed: weight is C_in x C_out/g x k; the bias has C_out entries.
        (nn.ConvTranspose1d(4, 6, 3), 3 * 6 * 4 + 6),
        (nn.ConvTranspose2d(6, 9, (3, 2), groups=3), 3 * 2 * (9 // 3) * 6 + 9),
        (nn.ConvTranspose3d(2, 3, 2, stride=2, bias=False), 2 * 2 * 2 * 3 * 2),
    ],
    ids=lambda v: repr(v) if isinstance(v, nn.Module) else str(v),
)
def test_conv_rule(module: nn.Module, by_hand: int) -> None:
    assert_rule(module, "conv", by_hand)


@pytest.mark.parametrize(
    ("module", "rule", "by_hand"),
    [
        (nn.Linear(25088, 4096), "linear", 25088 * 4096 + 4096),  # VGG's first FC, from 7·7·512
        (nn.Linear(10, 3, bias=False), "linear", 10 * 3),
        (nn.Bilinear(4, 5, 6), "bilinear", 4 * 5 * 6 + 6),
        (nn.Bilinear(4, 5, 6, bias=False), "bilinear", 4 * 5 * 6),
    ],
    ids=["linear", "linear_nobias", "bilinear", "bilinear_nobias"],
)
def test_linear_rules(module: nn.Module, rule: str, by_hand: int) -> None:
    assert_rule(module, rule, by_hand)


# --- the fallback says it is the fallback -----------------------------------------------------------


class ScaledLinear(nn.Linear):
    """A Linear with one extra parameter the linear rule does not know about."""

    def __init__(self) -> None:
        super().__init__(4, 3)
        self.scale = nn.Parameter(nn.init.ones_(self.weight.new_empty(3)))


def test_a_rule_that_disagrees_falls_back_and_says_so() -> None:
    f = formula(ScaledLinear())
    assert f.source == SHAPES and not f.from_rule
    assert f.value == 4 * 3 + 3 + 3  # weight, bias, scale: the tensors, shape by shape


def test_a_module_without_a_rule_is_counted_by_shapes() -> None:
    f = formula(nn.PReLU(num_parameters=8))
    assert f.source == SHAPES and f.value == 8
    assert formula(nn.ReLU()).source == SHAPES and formula(nn.ReLU()).value == 0
