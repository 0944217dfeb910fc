"""The operator memo returns exactly what a fresh computation returns.

Oracles: the same analysis with the memo turned off (every meta kernel and MAC formula run
afresh), compared field by field on the whole zoo; and, for single calls, PyTorch's own meta
kernel run on the second call's arguments.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from torch import nn

from netanatomy.analysis.summary import summary
from netanatomy.capture import memo
from netanatomy.capture.macs import op_macs
from netanatomy.capture.memo import OpMemo
from netanatomy.zoo import create_model, get_model_info, list_models

aten = torch.ops.aten


def _fingerprint(model: nn.Module, size: Any, dtypes: Any, mode: str) -> Any:
    s = summary(model, size, input_dtypes=dtypes, mode=mode)
    nodes = [(n.op, n.overload, n.args, n.kwargs, n.outputs, n.module, n.macs, n.counted) for n in s.graph.nodes]
    return ([dataclasses.asdict(r) for r in s.layers], dataclasses.asdict(s.totals), nodes,
            s.graph.saved_bytes, s.graph.calls, s.graph.outputs)


def _zoo_cases() -> list[tuple[str, str]]:
    cases = [(name, "eval") for name in list_models()]
    return cases + [(name, "train") for name in ("googlenet_aux", "resnet20", "densenet121", "char_lstm")]


@pytest.mark.parametrize(("name", "mode"), _zoo_cases())
def test_zoo_analysis_is_identical_with_and_without_the_memo(name: str, mode: str) -> None:
    info = get_model_info(name)
    model = create_model(name, device="meta")
    dtypes = None if info.spatial else [torch.int64]
    memo.clear()
    cold_table = _fingerprint(model, info.input_size, dtypes, mode)
    warm_table = _fingerprint(model, info.input_size, dtypes, mode)  # every pure call a hit
    with memo.disabled():
        reference = _fingerprint(model, info.input_size, dtypes, mode)
    assert cold_table == reference
    assert warm_table == reference


@pytest.mark.parametrize("module", [nn.LSTM(30, 16, 2), nn.GRU(30, 16, bidirectional=True), nn.LSTM(30, 16, proj_size=8, batch_first=True), nn.RNN(30, 16)])
def test_recurrent_analysis_is_identical_with_and_without_the_memo(module: nn.Module) -> None:
    memo.clear()
    for mode in ("eval", "train", "eval"):
        fast = _fingerprint(module, (7, 2, 30), None, mode)  # (batch_first: 7 rows of 2 steps)
        with memo.disabled():
            assert fast == _fingerprint(module, (7, 2, 30), None, mode)


def _meta(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device="meta")


def _x(fmt: torch.memory_format = torch.contiguous_format, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return _meta(2, 8, 13, 13, dtype=dtype).contiguous(memory_format=fmt)


def _conv(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding: int = 0, dilation: int = 1, groups: int = 1) -> tuple:
    return (aten.convolution.default, (x, w, None, [stride] * 2, [padding] * 2, [dilation] * 2, False, [0, 0], groups), {})


_W = _meta(16, 8, 3, 3)
_W_GROUPS = _meta(16, 2, 3, 3)
_CL = torch.channels_last
# Each pair differs in one thing only: the second call must not reuse the first call's entry.
_PAIRS = {
    "stride": (_conv(_x(), _W), _conv(_x(), _W, stride=2)),
    "padding": (_conv(_x(), _W), _conv(_x(), _W, padding=1)),
    "dilation": (_conv(_x(), _W), _conv(_x(), _W, dilation=2)),
    "groups": (_conv(_x(), _W), _conv(_x(), _W_GROUPS, groups=4)),
    "memory format": ((aten.add.Tensor, (_x(), _x()), {}), (aten.add.Tensor, (_x(_CL), _x(_CL)), {})),
    "input strides": ((aten.add.Tensor, (_x(), _x()), {}), (aten.add.Tensor, (_x().transpose(2, 3), _x()), {})),
    "pool memory format": ((aten.max_pool2d_with_indices.default, (_x(), [3, 3], [2, 2], [0, 0], [1, 1], False), {}),
                           (aten.max_pool2d_with_indices.default, (_x(_CL), [3, 3], [2, 2], [0, 0], [1, 1], False), {})),
    "dtype": ((aten.relu.default, (_x(),), {}), (aten.relu.default, (_x(dtype=torch.float16),), {})),
    "scalar type": ((aten.add.Tensor, (_meta(4, dtype=torch.int64), 2), {}),
                    (aten.add.Tensor, (_meta(4, dtype=torch.int64), 2.0), {})),
    "pool padding": ((aten.max_pool2d_with_indices.default, (_x(), [3, 3], [2, 2], [0, 0], [1, 1], False), {}),
                     (aten.max_pool2d_with_indices.default, (_x(), [3, 3], [2, 2], [1, 1], [1, 1], False), {})),
    "ceil mode": ((aten.max_pool2d_with_indices.default, (_x(), [2, 2], [2, 2], [0, 0], [1, 1], False), {}),
                  (aten.max_pool2d_with_indices.default, (_x(), [2, 2], [2, 2], [0, 0], [1, 1], True), {})),
    "keyword": ((aten.sum.dim_IntList, (_x(), [1]), {"keepdim": False}),
                (aten.sum.dim_IntList, (_x(), [1]), {"keepdim": True})),
}


def _meta_of(out: Any) -> list[tuple[Any, ...]]:
    flat = out if isinstance(out, (tuple, list)) else [out]
    return [(tuple(t.shape), t.stride(), t.dtype) for t in flat]


def _fresh(call: tuple) -> tuple[Any, ...]:
    func, args, kwargs = call
    out = func(*args, **kwargs)
    return _meta_of(out), op_macs(func, args, kwargs, out)


def _through(table: OpMemo, call: tuple) -> tuple[tuple[Any, ...], bool]:
    """The call as the tracer makes it: from the memo when it hits, else computed and stored."""
    func, args, kwargs = call
    key, hit = table.find(func, args, kwargs)
    if hit is not None:
        return (_meta_of(hit.outputs()), hit.macs), True
    out = func(*args, **kwargs)
    macs = op_macs(func, args, kwargs, out)
    if key is not None:
        table.store(key, out, macs, args, kwargs)
    return (_meta_of(out), macs), False


@pytest.mark.parametrize("what", sorted(_PAIRS))
def test_memo_key_separates_calls_that_differ_in(what: str) -> None:
    first, second = _PAIRS[what]
    table = OpMemo()
    _through(table, first)
    again, was_hit = _through(table, first)
    assert was_hit, "the identical call is memoised (else this test proves nothing)"
    assert again == _fresh(first)
    second_result, _ = _through(table, second)
    assert second_result == _fresh(second)
    assert _fresh(second) != _fresh(first), "the pair differs in output metadata or MACs"


def test_views_and_out_ops_are_never_memoised() -> None:
    table = OpMemo()
    x = _x()
    for func, args, kwargs in ((aten.view.default, (x, [2, -1]), {}), (aten.t.default, (_meta(3, 4),), {}),
                               (aten.add.out, (x, x), {"out": _x()})):
        assert table.find(func, args, kwargs)[0] is None, func


def test_a_repeated_in_place_op_returns_its_own_first_argument() -> None:
    table = OpMemo()
    first, second = _x(), _x()
    key, _ = table.find(aten.relu_.default, (first,), {})
    assert key is not None
    table.store(key, aten.relu_.default(first), None, (first,), {})
    _, hit = table.find(aten.relu_.default, (second,), {})
    assert hit is not None and hit.outputs() is second


def _bn_cases() -> list[tuple[Any, ...]]:
    cases = []
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        for shape, fmt in (((4, 6), None), ((2, 6, 9), None), ((2, 6, 5, 7), None), ((2, 6, 5, 7), _CL),
                           ((1, 6, 1, 1), None), ((2, 6, 3, 4, 5), None)):
            for training in (True, False):
                for affine in (True, False):
                    for stats in (True, False):
                        x = _meta(*shape, dtype=dtype)
                        x = x.contiguous(memory_format=fmt) if fmt is not None else x
                        c = _meta(6, dtype=dtype)
                        cases.append((x, c if affine else None, c if affine else None, c if stats else None,
                                      c if stats else None, training, 0.1, 1e-5))
    cases.append((_meta(2, 6, 5, 7).transpose(2, 3), None, None, _meta(6), _meta(6), False, 0.1, 1e-5))
    return cases


def _rule_matches_its_kernel(rule: Any, kernel: Any, cases: list[tuple[Any, ...]]) -> int:
    """Run a hand-written shape rule and the meta kernel it stands in for on every case: where the
    rule answers, it answers as the kernel does; where the kernel refuses, the rule does not
    answer. Returns how many cases the rule answered."""
    applied = 0
    for args in cases:
        ours = rule(args, {})
        try:
            theirs = kernel(*args)
        except Exception:
            assert ours is None, args
            continue
        if ours is not None:
            applied += 1
            assert _meta_of(ours) == _meta_of(theirs), args
    return applied


def test_batch_norm_rule_matches_the_meta_kernel_it_replaces() -> None:
    applied = _rule_matches_its_kernel(memo._batch_norm_rule, aten.native_batch_norm.default, _bn_cases())
    assert applied > 100, "the rule covers the common cases (else this test proves little)"


class _ReshapedInPlace(nn.Module):
    """Adds to a tensor of one shape, changes another tensor's shape in place, adds to it again."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x + 1  # the memo learns add((2, 3), 1)
        y = x.clone()
        y.unsqueeze_(0)  # y is now (1, 2, 3): its key, looked up just before, must not be reused
        b = y + 1
        z = x.clone()
        z.t_()  # (3, 2), strides swapped
        c = z * 2
        return a.sum() + b.sum() + c.sum() + b.new_zeros(b.shape[0])


def test_a_tensor_key_is_not_reused_after_an_op_changes_its_shape_in_place() -> None:
    memo.clear()
    s = summary(_ReshapedInPlace(), (2, 3), receptive_fields=False)
    shapes = {n.op: n.outputs[0].shape for n in s.graph.nodes if n.op in ("add", "mul", "unsqueeze_", "t_")}
    # Hand-derived: x is (2, 3); y.unsqueeze_(0) makes (1, 2, 3); z.t_() makes (3, 2).
    assert [n.outputs[0].shape for n in s.graph.nodes if n.op == "add"][:2] == [(2, 3), (1, 2, 3)]
    assert shapes["mul"] == (3, 2)
    with memo.disabled():
        reference = summary(_ReshapedInPlace(), (2, 3), receptive_fields=False)
    assert [(n.op, n.outputs) for n in s.graph.nodes] == [(n.op, n.outputs) for n in reference.graph.nodes]


def _cat_cases() -> list[tuple[Any, ...]]:
    cases: list[tuple[Any, ...]] = []
    fmts = (None, _CL, torch.channels_last_3d)
    shapes = ((1, 4, 5, 5), (1, 2, 5, 5), (1, 4, 1, 1), (1, 1, 5, 5), (2, 3), (3,), (2, 3, 4, 5, 6), (0, 3), (2, 0))
    for dtype in (torch.float32, torch.float16, torch.int64):
        for a in shapes:
            for b in shapes:
                for fmt_a in fmts:
                    for dim in (0, 1, -1, 2, 5):
                        x, y = _meta(*a, dtype=dtype), _meta(*b, dtype=dtype)
                        if fmt_a is not None:
                            try:
                                x = x.contiguous(memory_format=fmt_a)
                            except RuntimeError:
                                continue
                        cases.append(([x, y], dim))
                        cases.append(((x, y, x), dim))
                        cases.append(([x], dim))
    cases.append(([_meta(2, 3), _meta(2, 3, dtype=torch.float16)], 1))  # mixed dtypes
    cases.append(([_meta(4, 6).t(), _meta(6, 4)], 0))  # a transposed input
    cases.append(([_meta(2, 3)[:, :2], _meta(2, 2)], 0))  # a view with gaps
    return cases


def test_cat_rule_matches_the_meta_kernel_it_replaces() -> None:
    applied = _rule_matches_its_kernel(memo._cat_rule, aten.cat.default, _cat_cases())
    assert applied > 300, "the rule covers the common cases (else this test proves little)"
