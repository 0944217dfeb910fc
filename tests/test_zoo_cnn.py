"""The CNN model zoo, checked against the papers and torchvision's published figures.

Every registered CNN builds on the meta device and has an independently known parameter count
(torchvision's docs, or a hand derivation written out below); feature-map sizes are checked
against the papers' tables; real forward and backward passes run on small models and inputs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from netanatomy.errors import UserError
from netanatomy.zoo import create_model, get_model_info, list_models
from netanatomy.zoo.cifar_resnet import ShortcutA
from netanatomy.zoo.googlenet import GoogLeNetOutputs

CNN_FAMILIES = {"alexnet", "vgg", "nin", "googlenet", "resnet", "cifar_resnet", "densenet", "squeezenet"}
CNN_MODELS = [n for n in list_models() if get_model_info(n).family in CNN_FAMILIES]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_model(name: str, **kwargs: object) -> nn.Module:
    return create_model(name, device="meta", **kwargs).eval()


@functools.cache
def default_meta_model(name: str) -> nn.Module:
    """The default build on meta, shared by the read-only tests (a meta forward changes nothing)."""
    return meta_model(name)


def meta_input(*size: int) -> torch.Tensor:
    return torch.empty(size, device="meta")


def output_shapes(model: nn.Module, x: torch.Tensor, names: list[str]) -> dict[str, tuple[int, ...]]:
    """The output shape (without N) of each named submodule in one forward pass."""
    shapes: dict[str, tuple[int, ...]] = {}

    def recorder(name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: object, out: torch.Tensor) -> None:
            shapes[name] = tuple(out.shape[1:])

        return hook

    handles = [model.get_submodule(name).register_forward_hook(recorder(name)) for name in names]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return shapes


# --- parameter counts --------------------------------------------------------------------------

# Published in torchvision's model documentation ("num_params" of each ImageNet weights entry,
# pytorch.org/vision/stable/models.html), 1000 classes.
TORCHVISION_PARAMS = {
    "alexnet": 61_100_840,
    "vgg11": 132_863_336,
    "vgg11_bn": 132_868_840,
    "vgg13": 133_047_848,
    "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544,
    "vgg16_bn": 138_365_992,
    "vgg19": 143_667_240,
    "vgg19_bn": 143_678_248,
    "googlenet": 6_624_904,  # the published weights drop the auxiliary heads
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "wide_resnet50_2": 68_883_240,
    "resnext50_32x4d": 25_028_904,
    "densenet121": 7_978_856,
    "squeezenet1_0": 1_248_424,
    "squeezenet1_1": 1_235_496,
}


def conv(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
    """Weights (and biases) of a k x k convolution."""
    return c_in * c_out * k * k + (c_out if bias else 0)


def fc(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def bn(c: int) -> int:
    """BatchNorm's learned scale and shift (running statistics are buffers, not parameters)."""
    return 2 * c


def zfnet_params(num_classes: int = 1000) -> int:
    """Zeiler & Fergus 2013 Fig. 3 with conv3-5 of 512/1024/512 maps (Table 2)."""
    convs = conv(3, 96, 7) + conv(96, 256, 5) + conv(256, 512, 3) + conv(512, 1024, 3) + conv(1024, 512, 3)
    fcs = fc(512 * 6 * 6, 4096) + fc(4096, 4096) + fc(4096, num_classes)
    return convs + fcs


def nin_params(num_classes: int = 10) -> int:
    """Three mlpconv layers (one k x k conv + two 1x1 convs each), no FC layer."""
    mlpconv1 = conv(3, 192, 5) + conv(192, 160, 1) + conv(160, 96, 1)
    mlpconv2 = conv(96, 192, 5) + conv(192, 192, 1) + conv(192, 192, 1)
    mlpconv3 = conv(192, 192, 3) + conv(192, 192, 1) + conv(192, num_classes, 1)
    return mlpconv1 + mlpconv2 + mlpconv3


def googlenet_aux_params(num_classes: int = 1000) -> int:
    """torchvision's 6,624,904 plus two auxiliary heads: 1x1 conv 128 (+BN), FC 2048->1024, FC."""

    def head(c_in: int) -> int:
        return conv(c_in, 128, 1, bias=False) + bn(128) + fc(128 * 4 * 4, 1024) + fc(1024, num_classes)

    return TORCHVISION_PARAMS["googlenet"] + head(512) + head(528)  # on inception4a and 4d


def cifar_resnet_params(n: int, num_classes: int = 10, shortcut: str = "A") -> int:
    """He et al. 2016 §4.2, stage by stage: 3x3 convs without bias, each followed by BatchNorm."""
    stem = conv(3, 16, 3, bias=False) + bn(16)
    stage1 = 2 * n * (conv(16, 16, 3, bias=False) + bn(16))
    # the first conv of stages 2 and 3 widens (and has stride 2), the other 2n-1 keep the width
    stage2 = conv(16, 32, 3, bias=False) + bn(32) + (2 * n - 1) * (conv(32, 32, 3, bias=False) + bn(32))
    stage3 = conv(32, 64, 3, bias=False) + bn(64) + (2 * n - 1) * (conv(64, 64, 3, bias=False) + bn(64))
    head = fc(64, num_classes)
    # option A (zero padding) and plain nets add nothing; option B projects the two widenings
    projections = conv(16, 32, 1, bias=False) + bn(32) + conv(32, 64, 1, bias=False) + bn(64)
    return stem + stage1 + stage2 + stage3 + head + (projections if shortcut == "B" else 0)


CIFAR_N = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18}  # 6n + 2 layers

HAND_DERIVED_PARAMS = {
    "zfnet": zfnet_params(),
    "nin": nin_params(),
    "googlenet_aux": googlenet_aux_params(),
    **{f"resnet{d}": cifar_resnet_params(n) for d, n in CIFAR_N.items()},
    **{f"plain{d}": cifar_resnet_params(n) for d, n in CIFAR_N.items()},
}


def test_every_cnn_has_an_independent_parameter_count() -> None:
    assert set(CNN_MODELS) == set(TORCHVISION_PARAMS) | set(HAND_DERIVED_PARAMS)


@pytest.mark.parametrize("name", CNN_MODELS)
def test_parameter_count(name: str) -> None:
    expected = TORCHVISION_PARAMS.get(name) or HAND_DERIVED_PARAMS[name]
    assert n_params(default_meta_model(name)) == expected


def test_hand_derivations_written_out() -> None:
    # The formulas above, evaluated by hand once more, term by term.
    # NiN: (14,592 + 30,880 + 15,456) + (460,992 + 37,056 + 37,056) + (331,968 + 37,056 + 1,930)
    assert nin_params() == 60_928 + 535_104 + 370_954 == 966_986
    # ResNet-20 (n=3), option A: stem 432+32, stage1 6·(2,304+32), stage2 (4,608+64) + 5·(9,216+64),
    # stage3 (18,432+128) + 5·(36,864+128), fc 64·10+10.
    assert cifar_resnet_params(3) == 464 + 14_016 + 51_072 + 203_520 + 650 == 269_722
    # In closed form, P(n) = 97,216·n - 21,926 (option A, 10 classes).
    assert all(cifar_resnet_params(n) == 97_216 * n - 21_926 for n in CIFAR_N.values())
    # Option B adds the two projection shortcuts: (512 + 64) + (2,048 + 128) = 2,752.
    assert cifar_resnet_params(3, shortcut="B") == 269_722 + 2_752 == 272_474
    # GoogLeNet's auxiliary heads: 65,792 + 2,098,176 + 1,025,000 and 67,840 + 2,098,176 + 1,025,000.
    assert googlenet_aux_params() == 6_624_904 + 3_188_968 + 3_191_016 == 13_004_888
    # ZFNet: convs 14,208 + 614,656 + 1,180,160 + 4,719,616 + 4,719,104; FCs 75,501,568 + 16,781,312 + 4,097,000.
    assert zfnet_params() == 11_247_744 + 96_379_880 == 107_627_624


@pytest.mark.parametrize(
    ("depth", "paper_millions"), [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)]
)
def test_cifar_resnets_match_table_6(depth: int, paper_millions: float) -> None:
    # He et al. 2016, Table 6 gives the sizes rounded to 2 significant digits.
    millions = n_params(meta_model(f"resnet{depth}")) / 1e6
    assert round(millions, 2 if paper_millions < 1 else 1) == paper_millions


def test_cifar_resnet_option_b_count() -> None:
    assert n_params(meta_model("resnet20", shortcut="B")) == cifar_resnet_params(3, shortcut="B")


@pytest.mark.parametrize(
    ("name", "classifier_fan_in", "heads"),
    [("alexnet", 4096, 1), ("resnet50", 2048, 1), ("nin", 192, 1), ("resnet20", 64, 1),
     ("squeezenet1_1", 512, 1), ("googlenet_aux", 1024, 3)],
)  # fmt: skip
def test_parameter_count_for_ten_classes(name: str, classifier_fan_in: int, heads: int) -> None:
    # Only the classifier(s) depend on num_classes: (fan_in + 1) parameters per class and head
    # (googlenet_aux has the main FC and two auxiliary FCs, each from 1024 features).
    default_classes = 10 if get_model_info(name).input_size[-1] == 32 else 1000
    published = TORCHVISION_PARAMS.get(name) or HAND_DERIVED_PARAMS[name]
    expected = published - heads * (classifier_fan_in + 1) * (default_classes - 10)
    assert n_params(meta_model(name, num_classes=10)) == expected


# --- depth, as the papers count it ---------------------------------------------------------------

# The depth in each name: weighted layers (convolutions and FC layers) on the main path, without
# projection shortcuts. AlexNet/ZFNet 5+3; NiN 3x3 convs; DenseNet-121 = 1 + 2·58 + 3 + 1.
NAMED_DEPTH = {
    "alexnet": 8, "zfnet": 8, "nin": 9,
    "vgg11": 11, "vgg13": 13, "vgg16": 16, "vgg19": 19, "vgg11_bn": 11, "vgg13_bn": 13, "vgg16_bn": 16, "vgg19_bn": 19,
    "resnet18": 18, "resnet34": 34, "resnet50": 50, "resnet101": 101, "resnet152": 152,
    "wide_resnet50_2": 50, "resnext50_32x4d": 50, "densenet121": 121,
    **{f"resnet{d}": d for d in CIFAR_N}, **{f"plain{d}": d for d in CIFAR_N},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(NAMED_DEPTH))
def test_depth_matches_the_name(name: str) -> None:
    model = default_meta_model(name)
    weighted = [
        n
        for n, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear)) and ".downsample" not in n
    ]
    assert len(weighted) == NAMED_DEPTH[name]


# --- building on meta, shapes ---------------------------------------------------------------------


@pytest.mark.parametrize("name", CNN_MODELS)
def test_builds_on_meta_and_runs_default_input(name: str) -> None:
    info = get_model_info(name)
    assert info.spatial and len(info.input_size) == 4
    model = default_meta_model(name)
    tensors = [*model.parameters(), *model.buffers()]
    assert tensors and all(t.is_meta for t in tensors)
    out = model(meta_input(*info.input_size))
    num_classes = 10 if info.family in ("nin", "cifar_resnet") else 1000
    assert out.shape == (info.input_size[0], num_classes)


@pytest.mark.parametrize("name", CNN_MODELS)
def test_one_channel_ten_classes_on_meta(name: str) -> None:
    # The trainer's MNIST adaptation: a 1-channel input, 10 classes, the body unchanged.
    model = meta_model(name, in_channels=1, num_classes=10)
    side = 28 if get_model_info(name).input_size[-1] == 32 else 64
    assert model(meta_input(2, 1, side, side)).shape == (2, 10)


@pytest.mark.parametrize("name", CNN_MODELS)
def test_registry_metadata(name: str) -> None:
    info = get_model_info(name)
    assert info.description
    assert any(str(year) in info.paper for year in range(2012, 2018)), info.paper
    # The torchvision name is given exactly where torchvision has the same architecture.
    if name in TORCHVISION_PARAMS:
        assert info.torchvision_name == name
    elif name == "googlenet_aux":
        assert info.torchvision_name == "googlenet"  # googlenet(aux_logits=True)
    else:
        assert info.torchvision_name is None


def test_zfnet_map_sizes_match_figure_3() -> None:
    # Zeiler & Fergus 2013 Fig. 3: 224 -> conv1 110 -> pool 55 -> conv2 26 -> pool 13 -> 13 -> 6.
    names = {"features.0": (96, 110, 110), "features.2": (96, 55, 55), "features.3": (256, 26, 26),
             "features.5": (256, 13, 13), "features.6": (512, 13, 13), "features.8": (1024, 13, 13),
             "features.10": (512, 13, 13), "features.12": (512, 6, 6)}  # fmt: skip
    assert output_shapes(meta_model("zfnet"), meta_input(1, 3, 224, 224), list(names)) == names


def test_googlenet_map_sizes_match_table_1() -> None:
    # Szegedy et al. 2015, Table 1, "output size" column (channels x height x width).
    table = {"conv1": (64, 112, 112), "maxpool1": (64, 56, 56), "conv3": (192, 56, 56), "maxpool2": (192, 28, 28),
             "inception3a": (256, 28, 28), "inception3b": (480, 28, 28), "maxpool3": (480, 14, 14),
             "inception4a": (512, 14, 14), "inception4b": (512, 14, 14), "inception4c": (512, 14, 14),
             "inception4d": (528, 14, 14), "inception4e": (832, 14, 14), "maxpool4": (832, 7, 7),
             "inception5a": (832, 7, 7), "inception5b": (1024, 7, 7), "avgpool": (1024, 1, 1)}  # fmt: skip
    assert output_shapes(meta_model("googlenet"), meta_input(1, 3, 224, 224), list(table)) == table


@pytest.mark.parametrize(("name", "expansion"), [("resnet18", 1), ("resnet50", 4), ("resnext50_32x4d", 4)])
def test_resnet_map_sizes_match_table_1(name: str, expansion: int) -> None:
    # He et al. 2016 Table 1: conv1 112, conv2_x 56, conv3_x 28, conv4_x 14, conv5_x 7.
    e = expansion
    table = {"conv1": (64, 112, 112), "maxpool": (64, 56, 56), "layer1": (64 * e, 56, 56),
             "layer2": (128 * e, 28, 28), "layer3": (256 * e, 14, 14), "layer4": (512 * e, 7, 7)}  # fmt: skip
    assert output_shapes(meta_model(name), meta_input(1, 3, 224, 224), list(table)) == table


def test_densenet121_map_sizes_match_table_1() -> None:
    # Huang et al. 2017 Table 1 sizes; channels: 64 + 6·32 = 256, halved to 128; 128 + 12·32 = 512,
    # halved to 256; 256 + 24·32 = 1024, halved to 512; 512 + 16·32 = 1024.
    table = {"features.pool0": (64, 56, 56), "features.denseblock1": (256, 56, 56),
             "features.transition1": (128, 28, 28), "features.denseblock2": (512, 28, 28),
             "features.transition2": (256, 14, 14), "features.denseblock3": (1024, 14, 14),
             "features.transition3": (512, 7, 7), "features.denseblock4": (1024, 7, 7)}  # fmt: skip
    assert output_shapes(meta_model("densenet121"), meta_input(1, 3, 224, 224), list(table)) == table


def test_squeezenet1_0_map_sizes_match_table_1() -> None:
    # Iandola et al. 2016 Table 1, for the 227x227 input of the authors' Caffe model.
    table = {"features.0": (96, 111, 111), "features.2": (96, 55, 55), "features.3": (128, 55, 55),
             "features.5": (256, 55, 55), "features.6": (256, 27, 27), "features.10": (512, 27, 27),
             "features.11": (512, 13, 13), "features.12": (512, 13, 13), "classifier.1": (1000, 13, 13)}  # fmt: skip
    assert output_shapes(meta_model("squeezenet1_0"), meta_input(1, 3, 227, 227), list(table)) == table


def test_nin_structure() -> None:
    # Lin et al. 2014: mlpconv = k x k conv then 1x1 convs; 5/1/1, 5/1/1, 3/1/1; no FC layer.
    model = meta_model("nin")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [5, 1, 1, 5, 1, 1, 3, 1, 1]
    assert [c.out_channels for c in convs] == [192, 160, 96, 192, 192, 192, 192, 192, 10]
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    table = {"mlpconv1": (96, 32, 32), "pool1": (96, 16, 16), "mlpconv2": (192, 16, 16),
             "pool2": (192, 8, 8), "mlpconv3": (10, 8, 8)}  # fmt: skip
    assert output_shapes(model, meta_input(1, 3, 32, 32), list(table)) == table


@pytest.mark.parametrize("cfg", ["vgg11", "vgg19_bn"])
def test_vgg_uses_only_3x3_convolutions(cfg: str) -> None:
    convs = [m for m in meta_model(cfg).modules() if isinstance(m, nn.Conv2d)]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)


# --- CIFAR ResNets vs plain nets --------------------------------------------------------------------


def leaf_layers(model: nn.Module) -> list[tuple[str, str]]:
    return [
        (n, repr(m)) for n, m in model.named_modules() if not list(m.children()) and ".downsample" not in n
    ]


@pytest.mark.parametrize("depth", sorted(CIFAR_N))
def test_plain_net_is_the_resnet_without_shortcuts(depth: int) -> None:
    resnet, plain = meta_model(f"resnet{depth}"), meta_model(f"plain{depth}")
    assert leaf_layers(resnet) == leaf_layers(plain)
    shortcuts = [n for n, m in resnet.named_modules() if isinstance(m, ShortcutA)]
    assert shortcuts == ["layer2.0.downsample", "layer3.0.downsample"]  # only where the width doubles
    assert not any(".downsample" in n for n, _ in plain.named_modules())


def test_shortcuts_carry_the_signal_only_in_the_resnet() -> None:
    # Zero each block's last BatchNorm: the residual branches output 0. The ResNet still passes
    # its input through the shortcuts; the plain net's output no longer depends on the input.
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    for name, depends_on_input in [("resnet20", True), ("plain20", False)]:
        model = create_model(name).eval()
        for n, m in model.named_modules():
            if n.endswith("bn2"):
                nn.init.zeros_(m.weight)
                nn.init.zeros_(m.bias)
        with torch.no_grad():
            out = model(x)
        assert (not torch.allclose(out[0], out[1])) == depends_on_input, name


def test_shortcut_a_subsamples_and_zero_pads() -> None:
    x = torch.randn(2, 16, 8, 8)
    y = ShortcutA(16, 32, stride=2)(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 16:]) == 0


# --- real forward / backward on small models ----------------------------------------------------


SMALL_RUNS = [
    ("resnet20", 3, 32, 10),
    ("plain20", 3, 32, 10),
    ("nin", 3, 32, 10),
    ("squeezenet1_0", 3, 64, 1000),
    ("squeezenet1_1", 3, 64, 1000),
    ("resnet18", 3, 32, 1000),
    ("densenet121", 3, 32, 1000),  # (GoogLeNet runs in test_googlenet_aux_heads_only_in_training_mode)
    # the MNIST adaptation: 1 channel, 10 classes
    ("resnet20", 1, 28, 10),
    ("nin", 1, 28, 10),
    ("squeezenet1_1", 1, 64, 10),
    ("resnet18", 1, 32, 10),
]


@pytest.mark.parametrize(("name", "channels", "side", "num_classes"), SMALL_RUNS)
def test_real_forward_and_backward(name: str, channels: int, side: int, num_classes: int) -> None:
    torch.manual_seed(0)
    model = create_model(name, in_channels=channels, num_classes=num_classes)
    out = model(torch.randn(2, channels, side, side))
    assert isinstance(out, torch.Tensor) and out.shape == (2, num_classes)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    # every parameter takes part in the computation
    assert all(p.grad is not None for p in model.parameters())


def test_googlenet_aux_heads_only_in_training_mode() -> None:
    torch.manual_seed(0)
    model = create_model("googlenet_aux", num_classes=7)
    x = torch.randn(2, 3, 64, 64)
    out = model(x)
    assert isinstance(out, GoogLeNetOutputs)
    assert [t.shape for t in out] == [(2, 7)] * 3
    (out.logits.sum() + 0.3 * (out.aux1.sum() + out.aux2.sum())).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 7)
    # without aux heads, training mode returns plain logits too
    assert isinstance(create_model("googlenet", device="meta")(meta_input(2, 3, 224, 224)), torch.Tensor)


# --- initialisation ------------------------------------------------------------------------------


def conv_weight(model: nn.Module, name: str) -> torch.Tensor:
    conv = model.get_submodule(name)
    assert isinstance(conv, nn.Conv2d)
    return conv.weight


def test_he_initialisation() -> None:
    # He et al. 2015: std = sqrt(2 / fan); fan_out = out_channels · k² for the ResNets.
    torch.manual_seed(0)
    model = create_model("resnet20")
    w = conv_weight(model, "layer3.2.conv2")  # 64·64·9 = 36,864 samples
    assert w.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.03)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(bool((b.weight == 1).all() and (b.bias == 0).all()) for b in bns)
    nin = create_model("nin")  # fan_in = in_channels · k²
    w = conv_weight(nin, "mlpconv2.layers.0")
    assert w.std().item() == pytest.approx(math.sqrt(2 / (96 * 25)), rel=0.03)


def test_squeezenet_final_conv_init() -> None:
    torch.manual_seed(0)
    w = conv_weight(create_model("squeezenet1_1"), "classifier.1")  # 512,000 samples
    assert w.std().item() == pytest.approx(0.01, rel=0.02)


# --- user errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("resnet20", {"shortcut": "C"}, "unknown shortcut 'C'"),
        ("resnet18", {"groups": 32}, "groups and width_per_group apply to Bottleneck"),
        ("vgg16", {"depth": 3}, "unexpected keyword argument 'depth'"),
        ("plain20", {"shortcut": "A"}, "unexpected keyword argument 'shortcut'"),
    ],
)
def test_bad_builder_arguments_are_user_errors(name: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=message):
        create_model(name, device="meta", **kwargs)
