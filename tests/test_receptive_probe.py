"""The engine against the gradient probe: on every zoo CNN and on random branching networks.

The probe (a backward pass through a linearised copy) is the brute-force oracle: the input pixels
with non-zero gradient are the field. Each comparison is made at an input size where the probed
unit's field lies inside the input along the measured axis, so size, jump and padding are all
observable; the other axis is kept narrow (to keep the test fast) and compared clipped.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from netanatomy.capture.tracer import capture
from netanatomy.errors import UserError
from netanatomy.receptive.engine import clipped_box, propagate, receptive_field
from netanatomy.receptive.fields import FieldInfo
from netanatomy.receptive.probe import probe, verify

torch.set_num_threads(max(1, torch.get_num_threads()))


def _inside(f: FieldInfo, unit: tuple[int, ...], n: int, axis: int) -> bool:
    box = f.box(unit)[axis]
    return box is not None and box[0] >= 0 and box[1] <= n - 1


def _compare(model: nn.Module, layer: str, field_of, clipped, size: tuple[int, ...], axis: int = 0) -> None:
    """Probe the centre unit of ``layer`` and check size, jump, padding along ``axis`` and the
    clipped box along every axis."""
    f = field_of(size)
    units = f.units
    unit = tuple(u // 2 for u in units)
    assert _inside(f, unit, size[2 + axis], axis), "test set-up: choose a larger input"
    p = probe(model, size, [layer], unit)[layer]
    for a, box in enumerate(clipped(size, unit)):
        assert box is not None
        assert p.box[a] == (int(box[0]), int(box[1])), (layer, a, p.box, box)
    assert p.size[axis] == f.size[axis]
    if unit[axis] + 1 < units[axis] and _inside(f, tuple(u + (1 if k == axis else 0) for k, u in enumerate(unit)), size[2 + axis], axis):
        assert p.jump[axis] == f.jump[axis]
        assert p.padding[axis] == f.padding[axis]


def test_probe_on_three_stacked_convs_by_hand():
    # The probe alone, against the hand value: 7 pixels, centre unit 5 of a 11-pixel input sees 2..8.
    m = nn.Sequential(*(nn.Conv2d(1, 1, 3, padding=1) for _ in range(3)), nn.ReLU())
    p = probe(m, (1, 1, 11, 11), ["3"])["3"]
    assert p.unit == (5, 5) and p.box == ((2, 8), (2, 8)) and p.jump == (1, 1) and p.padding == (3, 3)


def test_probe_leaves_the_model_alone():
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2)).train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    probe(m, (1, 1, 12, 12), ["3"])
    assert m.training and all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_max_pool_with_dilation_and_ceil_mode_in_the_probe():
    m = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(3, 2, padding=1, dilation=2, ceil_mode=True), nn.Conv2d(1, 1, 3))
    checks = verify(m, (1, 1, 41, 41))
    assert checks and all(c.ok for c in checks), checks


def test_verify_flags_a_layer_without_spatial_output():
    m = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten(), nn.Linear(36, 2))
    with pytest.raises(UserError, match="not a spatial map"):
        probe(m, (1, 1, 8, 8), ["2"])


# --- every zoo CNN --------------------------------------------------------------------------

def _zoo_spatial() -> list[str]:
    from netanatomy.zoo import get_model_info, list_models

    return [n for n in list_models() if get_model_info(n).spatial]


_SLOW = {"resnet101", "resnet152", "densenet121", "wide_resnet50_2", "resnext50_32x4d", "resnet110", "plain110"}


def _zoo_params() -> list:
    return [pytest.param(n, marks=pytest.mark.slow) if n in _SLOW else n for n in _zoo_spatial()]


def _smallest_sizes(model: nn.Module, default: tuple[int, ...]) -> tuple[tuple[int, ...], str]:
    """(input size, layer): the trunk's output layer (the engine's default layer: the last one with
    a local, exact field), at the smallest height where the centre unit's field and its neighbour's
    fit in the input, and at the smallest width the model accepts."""
    f = receptive_field(model, default).field
    height = int(f.size[0]) + 2 * int(f.jump[0]) + 2
    for _ in range(8):
        for width in (32, 48, 64, 96, 128, 160, 224):
            try:
                r = receptive_field(model, (1, default[1], height, width))
            except UserError:
                continue
            info = r.field
            unit = tuple(u // 2 for u in info.units)
            nxt = (unit[0] + 1, unit[1])
            if _inside(info, unit, height, 0) and unit[0] + 1 < info.units[0] and _inside(info, nxt, height, 0):
                return (1, default[1], height, width), r.layer
            break
        height += 2 * int(f.jump[0])
    raise AssertionError("no input size found where the field fits")


@pytest.mark.parametrize("name", _zoo_params())
def test_engine_equals_probe_on_zoo(name: str):
    from netanatomy.zoo import create_model, get_model_info

    torch.manual_seed(0)
    model = create_model(name)
    size, layer = _smallest_sizes(model, get_model_info(name).input_size)

    def field_of(s: tuple[int, ...]) -> FieldInfo:
        return receptive_field(model, s, layer).field

    def clipped(s: tuple[int, ...], unit: tuple[int, ...]):
        return receptive_field(model, s, layer).clipped_box(unit)

    _compare(model, layer, field_of, clipped, size, axis=0)


# --- random branching networks (hypothesis) --------------------------------------------------

class RandomNet(nn.Module):
    """A chain of stages drawn by hypothesis: convs, pools, pads, crops, residual adds and concats."""

    def __init__(self, stages: list[tuple]) -> None:
        super().__init__()
        self.stages = stages
        self.mods = nn.ModuleList()
        ch = 2
        for st_ in stages:
            kind = st_[0]
            if kind == "conv":
                _, k, s, d, p = st_
                self.mods.append(nn.Conv2d(ch, 2, k, stride=s, dilation=d, padding=p))
                ch = 2
            elif kind == "pool":
                _, mx, k, s, p, ceil = st_
                self.mods.append((nn.MaxPool2d if mx else nn.AvgPool2d)(k, s, padding=p, ceil_mode=ceil))
            elif kind == "branch":
                # Two 'same'-geometry branches (odd kernels, padding d(k-1)/2, same stride): aligned.
                _, k1, d1, k2, d2, s, cat = st_
                self.mods.append(nn.ModuleList([nn.Conv2d(ch, 2, k1, stride=s, dilation=d1, padding=d1 * (k1 - 1) // 2),
                                                nn.Conv2d(ch, 2, k2, stride=s, dilation=d2, padding=d2 * (k2 - 1) // 2)]))
                ch = 4 if cat else 2
            else:
                self.mods.append(nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for st_, mod in zip(self.stages, self.mods):
            kind = st_[0]
            if kind == "branch":
                a, b = mod[0](x), mod[1](x)  # type: ignore[index]
                x = torch.cat([a, b], 1) if st_[-1] else F.relu(a) + b
            elif kind == "pad":
                x = F.pad(x, st_[1])
            elif kind == "crop":
                c = st_[1]
                x = x[:, :, c:, c:]
            else:
                x = mod(x)
        return x


_odd = st.sampled_from([1, 3, 5])
_stage = st.one_of(
    st.tuples(st.just("conv"), st.integers(1, 4), st.integers(1, 2), st.integers(1, 2), st.integers(0, 2)),
    st.tuples(st.just("pool"), st.booleans(), st.integers(2, 3), st.integers(1, 2), st.integers(0, 1), st.booleans()),
    st.tuples(st.just("branch"), _odd, st.integers(1, 2), _odd, st.integers(1, 2), st.integers(1, 2), st.booleans()),
    st.tuples(st.just("pad"), st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2))),
    st.tuples(st.just("crop"), st.integers(1, 2)),
)


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_stage, min_size=1, max_size=6))
def test_engine_equals_probe_on_random_dags(stages: list[tuple]):
    # Pooling padding must be at most half the kernel (a PyTorch rule): fix drawn values.
    stages = [(s[0], s[1], s[2], s[3], min(s[4], s[2] // 2), s[5]) if s[0] == "pool" else s for s in stages]
    model = RandomNet(stages)

    def field_of(size: tuple[int, ...]) -> FieldInfo:
        g = capture(model, [size])
        return propagate(g).info(g.outputs[0])

    def clipped(size: tuple[int, ...], unit: tuple[int, ...]):
        g = capture(model, [size])
        return clipped_box(propagate(g), g.outputs[0], unit)

    f = field_of((1, 2, 64, 64))
    n = int(f.size[0]) + 4 * int(f.jump[0]) + 8
    for _ in range(6):
        size = (1, 2, n, n)
        try:
            f = field_of(size)
        except UserError:
            n += 8
            continue
        unit = tuple(u // 2 for u in f.units)
        if all(_inside(f, unit, n, a) for a in (0, 1)) and unit[0] + 1 < f.units[0] and \
                _inside(f, (unit[0] + 1, unit[1]), n, 0) and _inside(f, (unit[0], unit[1] + 1), n, 1):
            break
        n += 2 * int(f.jump[0]) + 4
    _compare(model, "", field_of, clipped, size, axis=0)
    _compare(model, "", field_of, clipped, size, axis=1)


def test_transposed_conv_size_is_the_largest_over_units():
    # Stride-2 transposed conv after a stride-2 conv: the field is flagged approximate (its start
    # moves unevenly from unit to unit), but its size must be the largest any unit has.
    m = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2, padding=1), nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1))
    g = capture(m, [(1, 1, 32, 32)])
    f = propagate(g).info(g.outputs[0])
    assert not f.exact
    sizes = {probe(m, (1, 1, 32, 32), ["1"], (u, u))["1"].size[0] for u in (14, 15, 16, 17)}
    assert max(sizes) == f.size[0]


# --- verify: fewer, smaller backward passes, still independent of the engine -----------------

def _stack() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 2, 5, padding=2),
                         nn.Conv2d(2, 2, 3, stride=2), nn.Conv2d(2, 2, 7, padding=3))


def test_verify_probes_small_fields_at_small_inputs_and_agrees():
    # The 7x7 of the last conv sees 3 + 1 + 2·4 + 2·2 + 4·6 = 40 pixels (hand: r = 3, 4, 12, 16, 40),
    # which does not fit twice in 48: it is probed at the full 96; the first conv (3 pixels) at 16.
    checks = verify(_stack(), (1, 1, 96, 96))
    assert checks and all(c.ok for c in checks), checks
    sizes = {c.layer: c.input_size[2:] for c in checks}
    assert sizes["0"] == (16, 16) and sizes["5"][0] >= 40 + 2 * 4
    assert all(c.requested_size == (1, 1, 96, 96) for c in checks)


def test_verify_catches_a_wrong_box(monkeypatch):
    import netanatomy.receptive.engine as engine

    real = engine.clipped_box

    def one_pixel_too_wide(fmap, ref, unit):
        box = real(fmap, ref, unit)
        if ref.shape[1] == 2 and ref.shape[-1] == fmap.graph.inputs[0].shape[-1] // 2:  # the maxpool's output
            return tuple(None if b is None else (b[0] - 1, b[1]) for b in box)
        return box

    monkeypatch.setattr(engine, "clipped_box", one_pixel_too_wide)
    checks = verify(_stack(), (1, 1, 96, 96), ["2", "5"])
    assert [c.ok for c in checks] == [False, True], checks


def test_verify_catches_a_wrong_jump(monkeypatch):
    import dataclasses

    import netanatomy.receptive.engine as engine

    real = engine.receptive_field

    def jump_off_by_one(model, size, layer=None, **kw):
        r = real(model, size, layer, **kw)
        layers = [dataclasses.replace(lf, field=dataclasses.replace(lf.field, jump=tuple(j + 1 for j in lf.field.jump)))
                  if lf.name == "3" else lf for lf in r.layers]
        return dataclasses.replace(r, layers=layers)

    monkeypatch.setattr(engine, "receptive_field", jump_off_by_one)
    checks = verify(_stack(), (1, 1, 96, 96), ["2", "3"])
    assert [c.ok for c in checks] == [True, False], checks


def test_verify_on_resnet18_at_224_agrees_and_uses_small_inputs():
    from netanatomy.zoo import create_model

    torch.manual_seed(0)
    checks = verify(create_model("resnet18"), (1, 3, 224, 224), ["conv1", "layer1", "layer2.0", "layer3", "layer4"])
    assert all(c.ok for c in checks), checks
    assert checks[0].input_size[2:] < (64, 64) and checks[-1].input_size == (1, 3, 224, 224)
    assert any(checks[-1].clipped)
