"""Module replay (capture/replay.py) gives exactly what running the layer gives.

Oracle: the same capture with the memo and the replay off (every layer's forward run, every
kernel afresh), compared on every node, module call, output reference, saved byte, layer record
and total. Each case below makes a replay happen (checked: else the test proves nothing) on a
second layer that differs from the first in one thing only, or on the same layer in another
state, so that a key too coarse would return the first layer's ops.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from netanatomy.analysis.summary import summary
from netanatomy.capture import memo, replay
from netanatomy.errors import UserError


def _fingerprint(model: nn.Module, size: Any, mode: str = "eval", **kw: Any) -> Any:
    s = summary(model, size, mode=mode, **kw)
    nodes = [(n.index, n.op, n.overload, n.args, n.kwargs, n.outputs, n.module, n.macs, n.counted) for n in s.graph.nodes]
    return ([dataclasses.asdict(r) for r in s.layers], dataclasses.asdict(s.totals), nodes,
            s.graph.saved_bytes, s.graph.calls, s.graph.outputs)


@pytest.fixture
def replays(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The type of each module call that was replayed."""
    seen: list[str] = []
    real = replay.Replayer._replay

    def counting(self: replay.Replayer, template: Any, module: nn.Module, args: Any) -> Any:
        seen.append(type(module).__name__)
        return real(self, template, module, args)

    monkeypatch.setattr(replay.Replayer, "_replay", counting)
    return seen


def _same_with_and_without(model: nn.Module, size: Any, replays: list[str], mode: str = "eval", **kw: Any) -> None:
    memo.clear()
    replays.clear()
    first = _fingerprint(model, size, mode, **kw)
    again = _fingerprint(model, size, mode, **kw)
    with memo.disabled():
        reference = _fingerprint(model, size, mode, **kw)
    assert replays, "a layer was replayed (else the comparison proves nothing)"
    assert first == reference
    assert again == reference


class _Pair(nn.Module):
    """``a`` then ``b`` on the same input (and ``b`` again on ``a``'s output when shapes allow)."""

    def __init__(self, a: nn.Module, b: nn.Module, prepare: Callable[[torch.Tensor], torch.Tensor] = lambda x: x) -> None:
        super().__init__()
        self.a, self.b, self.prepare = a, b, prepare

    def forward(self, x: torch.Tensor) -> Any:
        x = self.prepare(x)
        return self.a(x), self.b(x), self.a(x)


def _conv(**kw: Any) -> nn.Conv2d:
    return nn.Conv2d(8, 8, 3, **kw)


# Each pair differs in one thing only.
_PAIRS: dict[str, Callable[[], nn.Module]] = {
    "stride": lambda: _Pair(_conv(), _conv(stride=2)),
    "padding": lambda: _Pair(_conv(), _conv(padding=1)),
    "dilation": lambda: _Pair(_conv(), _conv(dilation=2)),
    "groups": lambda: _Pair(_conv(), _conv(groups=4)),
    "bias": lambda: _Pair(_conv(), _conv(bias=False)),
    "padding mode": lambda: _Pair(_conv(padding=1), _conv(padding=1, padding_mode="reflect")),
    "memory format": lambda: _Pair(_conv(), _conv(), lambda x: x),
    "weight dtype": lambda: _Pair(_conv(), _conv().double(), lambda x: x),
    "frozen weight": lambda: _Pair(_conv(), _conv().requires_grad_(False)),
    "training flag": lambda: _Pair(nn.BatchNorm2d(8), nn.BatchNorm2d(8).eval()),
    "running stats": lambda: _Pair(nn.BatchNorm2d(8), nn.BatchNorm2d(8, track_running_stats=False)),
    "in place": lambda: _Pair(nn.ReLU(), nn.ReLU(inplace=True), lambda x: x * 1),
    "pool ceil mode": lambda: _Pair(nn.MaxPool2d(2), nn.MaxPool2d(2, ceil_mode=True)),
    "dropout p": lambda: _Pair(nn.Dropout(0.5), nn.Dropout(0.0)),
    "lstm hidden size": lambda: _Pair(nn.LSTM(13, 6), nn.LSTM(13, 7), lambda x: x.flatten(2)[..., :13]),
    "lstm layers": lambda: _Pair(nn.LSTM(13, 6), nn.LSTM(13, 6, 2), lambda x: x.flatten(2)[..., :13]),
    "gru direction": lambda: _Pair(nn.GRU(13, 6), nn.GRU(13, 6, bidirectional=True), lambda x: x.flatten(2)[..., :13]),
    "rnn nonlinearity": lambda: _Pair(nn.RNN(13, 6), nn.RNN(13, 6, nonlinearity="relu"), lambda x: x.flatten(2)[..., :13]),
}


@pytest.mark.parametrize("what", sorted(_PAIRS))
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_a_replay_tells_apart_layers_that_differ_in(what: str, mode: str, replays: list[str]) -> None:
    model = _PAIRS[what]()
    if what == "memory format":
        model = model.to(memory_format=torch.channels_last)
    if what == "weight dtype":
        model.prepare = lambda x: x  # the float64 conv is fed its own dtype below
        model.b = nn.Sequential(_Cast(torch.float64), model.b)
    _same_with_and_without(model, (2, 8, 11, 11), replays, mode)


class _Cast(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.dtype)


class _Inputs(nn.Module):
    """One conv on inputs that differ in dtype, memory format, strides and requires_grad, and
    one LSTM with and without an initial state."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3)
        self.lstm = nn.LSTM(11, 5)

    def forward(self, x: torch.Tensor) -> Any:
        outs = [self.conv(x), self.conv(x.contiguous(memory_format=torch.channels_last)), self.conv(x.transpose(2, 3)),
                self.conv(x.half().float()), self.conv(x.detach()), self.conv(x)]
        seq = x[0]  # 8 steps, batch 11, 11 features
        h = torch.zeros(1, 11, 5), torch.zeros(1, 11, 5)
        outs += [self.lstm(seq)[0], self.lstm(seq, h)[0], self.lstm(seq)[0]]
        with torch.no_grad():
            outs.append(self.conv(x))  # grad mode is part of the key
        return outs


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_a_replay_tells_apart_inputs_and_grad_mode(mode: str, replays: list[str]) -> None:
    _same_with_and_without(_Inputs(), (2, 8, 11, 11), replays, mode)
    assert "Conv2d" in replays and "LSTM" in replays


class _ConvThenInPlace(nn.Module):
    """DenseNet's pattern: a replayed layer's output is changed in place by the next one."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(4, 4, 3, padding=1) for _ in range(3)])
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = self.relu(conv(x))
            x.mul_(2)
        return F.relu_(x)


def test_a_replayed_output_that_requires_grad_can_be_changed_in_place(replays: list[str]) -> None:
    _same_with_and_without(_ConvThenInPlace(), (1, 4, 8, 8), replays, "train")
    s = summary(_ConvThenInPlace(), (1, 4, 8, 8), mode="train")
    # Hand-derived: every tensor is 1x4x8x8 float32 = 1,024 B. convs.0 saves the model's input;
    # the shared ReLU saves each conv's output (its own result, in place), 3 x 1,024 B; convs.1
    # and convs.2 read a storage the ReLU saved already (mul_ by a number saves nothing), and the
    # final relu_ one that it saved too: nothing more is counted.
    assert s.graph.saved_bytes == {"convs.0": 1024, "relu": 3 * 1024}
    assert replays.count("Conv2d") >= 2


class _Views(nn.Module):
    """Layers whose first call a replay cannot reproduce: their later calls run as usual."""

    def __init__(self) -> None:
        super().__init__()
        self.flatten = nn.Flatten()  # returns a view of its input
        self.lstm = nn.LSTM(6, 3, batch_first=True)  # returns a transposed view
        self.identity = nn.Identity()

    def forward(self, x: torch.Tensor) -> Any:
        y = self.flatten(x), self.flatten(x + 1)
        z = self.lstm(x[:, 0]), self.lstm(x[:, 1])
        return y, z, self.identity(x), self.identity(x)


def test_layers_a_replay_cannot_reproduce_run_every_time(replays: list[str]) -> None:
    memo.clear()
    first = _fingerprint(_Views(), (2, 3, 5, 6))
    with memo.disabled():
        assert first == _fingerprint(_Views(), (2, 3, 5, 6))
    assert "Flatten" not in replays and "LSTM" not in replays
    assert "Identity" in replays  # returns its input itself: replayed


class _Hooked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)
        self.b.register_forward_hook(lambda m, i, o: o * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x)) + self.a(x)


def test_a_layer_with_hooks_or_a_subclass_is_not_replayed(replays: list[str]) -> None:
    class MyLinear(nn.Linear):
        pass

    model = _Hooked()
    model.c = MyLinear(4, 4)
    memo.clear()
    for _ in range(2):
        summary(model, (3, 4))
        summary(nn.Sequential(MyLinear(4, 4), MyLinear(4, 4)), (3, 4))
    assert set(replays) == {"Linear"}  # a (twice), never the hooked b or the subclass


def test_the_patched_forward_is_removed_after_the_capture() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    summary(model, (3, 4))
    assert all("forward" not in vars(m) for m in model.modules())
    with pytest.raises(UserError):
        summary(model, (3, 5))
    assert all("forward" not in vars(m) for m in model.modules())


@pytest.mark.parametrize(("layer", "size", "words"), [
    (nn.LSTM(30, 16), (7, 2, 31), "input.size(-1) must be equal to input_size"),
    (nn.BatchNorm2d(3), (1, 3, 9), "expected 4D input"),
])
def test_a_layers_own_argument_check_is_the_users_error(layer: nn.Module, size: tuple[int, ...], words: str) -> None:
    for _ in range(2):  # recorded, then looked up
        with pytest.raises(UserError, match=re.escape(words)):
            summary(layer, size)


def test_the_lecture_lstm_is_replayed_on_a_second_analysis(replays: list[str]) -> None:
    lstm = nn.LSTM(300, 512, 2)
    _same_with_and_without(lstm, (7, 2, 300), replays)
    s = summary(lstm, (7, 2, 300))
    # Hand-derived MACs: per step and layer, 4 gates x hidden 512 x (input + hidden) per batch
    # row: layer 0 4*512*(300+512), layer 1 4*512*(512+512); 7 steps, batch 2.
    assert s.totals.macs == 7 * 2 * (4 * 512 * (300 + 512) + 4 * 512 * (512 + 512))


class _Counting(TorchDispatchMode):
    """A caller's own mode around the analysis: it must see every op of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.ops += 1
        return func(*args, **(kwargs or {}))


def test_under_a_callers_own_mode_every_op_runs(replays: list[str]) -> None:
    model = nn.Sequential(*[nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()) for _ in range(3)])
    memo.clear()
    seen, found = [], []
    for _ in range(2):
        with _Counting() as outer:
            found.append(_fingerprint(model, (1, 4, 8, 8)))
        seen.append(outer.ops)
    assert not replays, "no layer replayed under the caller's mode"
    assert seen[0] == seen[1] >= len(found[0][2]), seen  # no memo hit either: the same ops both times
    with memo.disabled():
        assert found[0] == found[1] == _fingerprint(model, (1, 4, 8, 8))
