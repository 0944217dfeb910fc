"""The receptive-field engine against hand derivations and published values.

Every expected number below is worked out by hand in the comment next to it with the
recurrences r = r_prev + (k'-1)·j_prev, j = j_prev·s, P = P_prev + p·j_prev (Araujo et al.,
Distill 2019), or taken from a published table.
"""

from __future__ import annotations

from collections import OrderedDict
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from netanatomy.capture.tracer import capture
from netanatomy.errors import UnknownNameError, UserError
from netanatomy.receptive.engine import module_fields, propagate, receptive_field


def out_field(model: nn.Module, size: tuple[int, ...]):
    """The field of the model's output tensor."""
    g = capture(model, [size])
    return propagate(g).info(g.outputs[0])


class Fn(nn.Module):
    """A module around a function, so tests can write functional forwards inline."""

    def __init__(self, fn, *mods: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        self.mods = nn.ModuleList(mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x, *self.mods)


def test_three_stacked_3x3_convs_see_7():
    # r: 1 -> 1+2·1 = 3 -> 3+2·1 = 5 -> 5+2·1 = 7 (the lecture's "7x7, not 15").
    m = nn.Sequential(*(nn.Conv2d(3, 3, 3, padding=1) for _ in range(3)))
    r = receptive_field(m, (1, 3, 32, 32))
    assert r.size == (7, 7) and r.jump == (1, 1) and r.padding == (3, 3)
    assert r.field.short() == "7"


def test_vgg16_matches_distill_table():
    # Araujo et al. 2019, Table 1, VGG-16: r = 212, effective stride 32, effective padding 90.
    from netanatomy.zoo import create_model

    r = receptive_field(create_model("vgg16", device="meta"), (1, 3, 224, 224), "features")
    assert r.size == (212, 212) and r.jump == (32, 32) and r.padding == (90, 90)
    assert r.field.aligned and r.field.exact


def test_dilation_by_hand():
    # conv 3x3 d=2: k' = 2·(3-1)+1 = 5, r = 5; then conv 3x3 d=4: k' = 9, r = 5 + 8·1 = 13.
    # padding 2 then 4: P = 2 + 4 = 6; a 3x3 stride 2 conv after: r = 13 + 2 = 15, j = 2, P = 6 + 1 = 7.
    m = nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2, padding=2), nn.Conv2d(1, 1, 3, dilation=4, padding=4),
                      nn.Conv2d(1, 1, 3, stride=2, padding=1))
    f = out_field(m, (1, 1, 64, 64))
    assert f.size == (15, 15) and f.jump == (2, 2) and f.padding == (7, 7)


def test_ceil_mode_by_hand():
    # 7 pixels, max pool 2/2 with ceil_mode: ceil((7-2)/2)+1 = 4 windows; the last starts at 6
    # and would end at 7, one past the input: its field is clipped to pixel 6 alone.
    # Field: r = 2, j = 2, P = 0; unit 3 covers 6..7 unclipped.
    m = nn.MaxPool2d(2, 2, ceil_mode=True)
    r = receptive_field(nn.Sequential(m), (1, 1, 7, 7))
    assert r.size == (2, 2) and r.jump == (2, 2) and r.padding == (0, 0)
    assert r.field.units == (4, 4)
    assert r.unit_box((3, 3)) == ((6, 7), (6, 7))
    # ceil_mode pool after a padded 3x3 conv: r = 3 + (3-1)·1 = 5, j = 2, P = 1 + 0 = 1.
    f = out_field(nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(3, 2, ceil_mode=True)), (1, 1, 10, 10))
    assert f.size == (5, 5) and f.jump == (2, 2) and f.padding == (1, 1)


def test_asymmetric_and_same_padding_and_crop():
    # F.pad (left 2, right 0) on W, (top 1, bottom 3) on H, then a 3x3 valid conv: P = (1, 2), r = 3.
    m = Fn(lambda x, c: c(F.pad(x, (2, 0, 1, 3))), nn.Conv2d(1, 1, 3))
    f = out_field(m, (1, 1, 16, 16))
    assert f.size == (3, 3) and f.padding == (1, 2)
    # padding='same' with an even kernel: PyTorch pads (k-1)//2 = 1 before and 2 after for k=4.
    f = out_field(nn.Conv2d(1, 1, (4, 3), padding="same"), (1, 1, 16, 16))
    assert f.size == (4, 3) and f.padding == (1, 1)
    assert f.short() == "4x3"
    # crop x[:, :, 2:, 3::2] then a 3x3 conv: H: start +2 -> P = -2; W: start +3, j = 2 -> r = 1 + 2·2 = 5, P = -3.
    f = out_field(Fn(lambda x, c: c(x[:, :, 2:, 3::2]), nn.Conv2d(1, 1, 3)), (1, 1, 32, 32))
    assert f.size == (3, 5) and f.jump == (1, 2) and f.padding == (-2, -3)


def test_1d_and_3d():
    # Conv1d k=5 s=2 then MaxPool1d 3/3: r = 5 + 2·2 = 9, j = 6.
    f = out_field(nn.Sequential(nn.Conv1d(2, 2, 5, stride=2), nn.MaxPool1d(3)), (1, 2, 64))
    assert f.size == (9,) and f.jump == (6,)
    # Conv3d kernel (1,3,3) then (3,1,1): r = (3, 3, 3).
    f = out_field(nn.Sequential(nn.Conv3d(1, 1, (1, 3, 3)), nn.Conv3d(1, 1, (3, 1, 1))), (1, 1, 8, 8, 8))
    assert f.size == (3, 3, 3)


def test_global_pooling_and_linear_are_global():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    fields = module_fields(capture(m, [(1, 3, 16, 16)]))
    assert fields["0"].short() == "3"
    assert fields["1"].is_global and fields["1"].short() == "global"
    assert fields["3"].is_global
    # Mean over W only: global along W, local along H.
    f = out_field(Fn(lambda x, c: c(x).mean(3), nn.Conv2d(1, 1, 3)), (1, 1, 8, 8))
    assert f.size == (3, None) and f.short() == "3 x global"


def test_adaptive_pool_even_windows_is_a_pool():
    # 16 -> 4 adaptive: windows of 4 with stride 4, as a 4/4 pool: r = 4, j = 4.
    f = out_field(nn.AdaptiveMaxPool2d(4), (1, 1, 16, 16))
    assert f.size == (4, 4) and f.jump == (4, 4) and f.exact
    # 10 -> 4: windows [0,3), [2,5), [5,8), [7,10): uneven, the largest has 3 pixels.
    f = out_field(nn.AdaptiveAvgPool2d(4), (1, 1, 10, 10))
    assert not f.exact and f.size == (3, 3)


def test_residual_add_and_concat_take_the_union():
    # Main path: two 3x3 convs (r = 5); shortcut: 1x1 (r = 1); same centres: aligned, r = 5.
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(2, 2, 3, padding=1)
            self.b = nn.Conv2d(2, 2, 3, padding=1)
            self.short = nn.Conv2d(2, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.b(self.a(x)) + self.short(x), self.short(x)], 1)

    g = capture(Block(), [(1, 2, 16, 16)])
    fmap = propagate(g)
    f = fmap.info(g.outputs[0])
    assert f.size == (5, 5) and f.padding == (2, 2) and f.aligned
    assert not fmap.misalignments


def test_unaligned_paths_are_detected_and_named():
    # Both paths have stride 2, but the second is padded on the left only: its centres are
    # shifted by half a pixel against the first's -> unaligned (Araujo et al. 2019).
    class Unaligned(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.main = nn.Conv2d(1, 1, 3, stride=2, padding=1)
            self.side = nn.Conv2d(1, 1, 2, stride=2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.main(x) + self.side(F.pad(x, (1, 0, 1, 0)))

    g = capture(Unaligned(), [(1, 1, 16, 16)])
    fmap = propagate(g)
    f = fmap.info(g.outputs[0])
    assert not f.aligned and f.short().endswith("!unaligned")
    (m,) = fmap.misalignments[:1]
    # main: centre of unit 0 = -1 + (3-1)/2 = 0; side: -1 + (2-1)/2 = -1/2.
    assert {m.centres[0], m.centres[1]} == {Fraction(0), Fraction(-1, 2)}
    assert "main" in str(m) and "side" in str(m)
    # Different strides: a stride-2 path against a stride-1 path cropped to the same size.
    h = Fn(lambda x, a, b: a(x) + b(x)[:, :, :8, :8], nn.Conv2d(1, 1, 2, stride=2), nn.Conv2d(1, 1, 1))
    g = capture(h, [(1, 1, 16, 16)])
    fmap = propagate(g)
    assert fmap.misalignments and fmap.misalignments[0].jumps in ((2, 1), (1, 2))


def test_transposed_conv_and_upsampling():
    # Stride-1 transposed conv k=3, p=0: output o reads inputs o-2..o, a conv padded by 2: r = 3, P = 2.
    f = out_field(nn.ConvTranspose2d(1, 1, 3), (1, 1, 8, 8))
    assert f.size == (3, 3) and f.padding == (2, 2) and f.exact
    # Stride 2: the jump is exactly 1/2, and the field is flagged as the linear model.
    f = out_field(nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1), (1, 1, 8, 8))
    assert f.jump == (Fraction(1, 2), Fraction(1, 2)) and not f.exact and f.short().startswith("~")
    # Nearest x2 after a 3x3 conv: every output unit sees one conv unit, r = 3, jump 1/2.
    f = out_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(scale_factor=2)), (1, 1, 8, 8))
    assert f.size == (3, 3) and f.jump == (Fraction(1, 2),) * 2 and not f.exact


def test_unknown_op_is_reported_not_guessed():
    f = out_field(Fn(lambda x, c: c(torch.flip(x, [3])), nn.Conv2d(1, 1, 3)), (1, 1, 8, 8))
    assert not f.known and f.short() == "?" and "flip" in f.note


def test_short_formats():
    fields = module_fields(capture(nn.Sequential(nn.Conv2d(1, 1, (7, 5))), [(1, 1, 16, 16)]))
    assert fields["0"].short() == "7x5"


def test_bad_inputs():
    m = nn.Sequential(OrderedDict(conv1=nn.Conv2d(3, 3, 3), relu1=nn.ReLU()))
    with pytest.raises(UnknownNameError, match=r"no layer 'conv2'.*Did you mean conv1"):
        receptive_field(m, (1, 3, 8, 8), layer="conv2")
    with pytest.raises(UnknownNameError, match=r"no layer 'fc'.*layers include conv1, relu1"):
        receptive_field(m, (1, 3, 8, 8), layer="fc")
    with pytest.raises(UserError, match="no spatial axes"):
        receptive_field(nn.Sequential(nn.Linear(8, 4)), (1, 8))
    # A 212-pixel field on a 100-pixel input: clipped by 112 on each axis.
    from netanatomy.zoo import create_model

    r = receptive_field(create_model("vgg16", device="meta"), (1, 3, 100, 100), "features")
    assert r.field.clipping() == (112, 112)
    assert "clipped" in str(r) and "112x112" in str(r)


def test_engine_leaves_the_model_alone():
    m = nn.Sequential(nn.Conv2d(3, 3, 3), nn.BatchNorm2d(3)).train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    receptive_field(m, (1, 3, 8, 8))
    assert m.training
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_model_without_local_field():
    # An MLP on an image: flatten first, so every layer sees the whole input.
    m = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10), nn.ReLU(), nn.Linear(10, 2))
    with pytest.raises(UserError, match="no layer of this model has a local receptive field"):
        receptive_field(m, (1, 3, 8, 8))
    fields = module_fields(capture(m, [(1, 3, 8, 8)]))
    assert all(f.is_global for f in fields.values())


def test_channel_ops_leave_the_field_alone():
    # LRN (AlexNet) pools across channels only, and a channel shuffle (view, transpose, reshape)
    # moves channels only: the 3x3 conv's field, 3, is unchanged.
    class Shuffle(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 4, 3)
            self.lrn = nn.LocalResponseNorm(3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.lrn(self.conv(x))
            n, c, h, w = y.shape
            return y.view(n, 2, 2, h, w).transpose(1, 2).reshape(n, c, h, w)

    f = out_field(Shuffle(), (1, 2, 10, 10))
    assert f.known and f.size == (3, 3) and f.padding == (0, 0)
