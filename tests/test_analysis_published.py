"""The analyzer against published figures and hand derivations."""

from __future__ import annotations

import pytest
from torch import nn

from netanatomy.analysis.summary import summary
from netanatomy.zoo import create_model, get_model_info

# torchvision's model documentation, "GFLOPS" column (which counts multiply-accumulates) at
# 1x3x224x224, given there to 2 decimals (or fewer where the page prints fewer).
TORCHVISION_GFLOPS = {
    "alexnet": "0.71",
    "vgg11": "7.61",
    "vgg13": "11.31",
    "vgg16": "15.47",
    "vgg19": "19.63",
    "vgg16_bn": "15.47",
    "resnet18": "1.81",
    "resnet34": "3.66",
    "resnet50": "4.09",
    "resnet101": "7.8",
    "resnet152": "11.51",
    "googlenet": "1.5",
    "densenet121": "2.83",
    "squeezenet1_0": "0.82",
    "squeezenet1_1": "0.35",
    "resnext50_32x4d": "4.23",
    "wide_resnet50_2": "11.4",
}

# torchvision's "num_params" of the same architectures.
TORCHVISION_PARAMS = {
    "alexnet": 61_100_840,
    "vgg16": 138_357_544,
    "resnet50": 25_557_032,
    "googlenet": 6_624_904,
    "densenet121": 7_978_856,
    "squeezenet1_0": 1_248_424,
}


@pytest.mark.parametrize("name", sorted(TORCHVISION_GFLOPS))
def test_macs_match_torchvision_gflops_column(name: str) -> None:
    s = summary(create_model(name, device="meta"), (1, 3, 224, 224), receptive_fields=False)
    published = TORCHVISION_GFLOPS[name]
    decimals = len(published.partition(".")[2])
    assert f"{s.total_macs / 1e9:.{decimals}f}" == published
    assert s.totals.flops == 2 * s.total_macs


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_params_match_torchvision(name: str) -> None:
    info = get_model_info(name)
    s = summary(create_model(name, device="meta"), info.input_size, receptive_fields=False)
    assert s.total_params == TORCHVISION_PARAMS[name]


def test_vgg16_by_hand() -> None:
    """The lecture's VGG16 slide, derived here layer by layer (Simonyan & Zisserman 2015, config D)."""
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    conv_params, acts, c_in, size = [], [], 3, 224
    for v in cfg:
        if v == "M":
            size //= 2
            acts.append(size * size * c_in)  # pool output
        else:
            conv_params.append(3 * 3 * c_in * v + v)  # k·k·C_in·C_out weights + C_out biases
            acts.append(size * size * v)  # conv output (ReLU is in place: no new memory)
            c_in = v
    fc_params = [7 * 7 * 512 * 4096 + 4096, 4096 * 4096 + 4096, 4096 * 1000 + 1000]
    assert sum(conv_params) + sum(fc_params) == 138_357_544
    assert conv_params[0] == 1_792  # the study notes' 3·3·3·64 (+ 64 biases)

    s = summary(create_model("vgg16", device="meta"), (1, 3, 224, 224), receptive_fields=False)
    assert s.total_params == sum(conv_params) + sum(fc_params)
    convs = [r for r in s.layers if r.type == "Conv2d"]
    assert [r.params for r in convs] == conv_params
    assert convs[0].formula == "3·3·3·64 + 64 = 1,792"
    # Activation counts of the conv and pool outputs (the slide's "memory" column), float32.
    feature_layers = [r for r in s.layers if r.type in ("Conv2d", "MaxPool2d")]
    # max_pool2d also stores its argmax indices (int64) for backward: 8 bytes per output element.
    got = [r.activation_bytes // 4 if r.type == "Conv2d" else r.activation_bytes // (4 + 8) for r in feature_layers]
    assert got == acts
    # The slide's memory column: input + conv/pool outputs + the three FC outputs. Its rows add up
    # to 15.2M values (the printed "TOTAL memory: 24M" does not equal the sum of its own rows).
    assert 224 * 224 * 3 + sum(acts) + 4096 + 4096 + 1000 == 15_237_608
    pools = [a for a, v in zip(acts, [v for v in cfg]) if v == "M"]
    # Everything the forward pass allocates, float32 unless said: conv and pool outputs, the pools'
    # int64 argmax indices, the adaptive 7x7 average pool's output, and the three FC outputs.
    expected = 4 * sum(acts) + 8 * sum(pools) + 4 * 7 * 7 * 512 + 4 * (4096 + 4096 + 1000)
    assert s.totals.forward_activation_bytes == expected


def test_lstm_params_per_gate_formula() -> None:
    # Hand derivation: layer 0: 4 gates x 512 x (300 inputs + 512 recurrent + 2 biases);
    # layer 1 reads layer 0's 512 outputs.
    expected = 4 * 512 * (300 + 512 + 2) + 4 * 512 * (512 + 512 + 2)
    assert expected == 3_768_320
    s = summary(nn.LSTM(300, 512, num_layers=2), (7, 1, 300), receptive_fields=False)
    assert s.total_params == expected
    assert s.layers[0].formula == "4·512·(300+512+2) + 4·512·(512+512+2) = 3,768,320"
    # MACs per character: each step multiplies W_ih and W_hh (and the second layer's) once.
    assert s.total_macs == 7 * (4 * 512 * 300 + 4 * 512 * 512 + 4 * 512 * 512 * 2)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        # GRU: 3 gates (r, z, n); bidirectional layer 1 reads 2·H inputs.
        (nn.GRU(10, 20, num_layers=2, bidirectional=True), 2 * 3 * 20 * (10 + 20 + 2) + 2 * 3 * 20 * (40 + 20 + 2)),
        # LSTM with projections: W_hh is 4H x P, plus W_hr P x H; layer 1 input is P.
        (nn.LSTM(10, 20, num_layers=2, proj_size=5), 4 * 20 * (10 + 5 + 2) + 5 * 20 + 4 * 20 * (5 + 5 + 2) + 5 * 20),
        (nn.RNN(4, 3, bias=False), 3 * 4 + 3 * 3),
    ],
)
def test_recurrent_formulas(module: nn.Module, expected: int) -> None:
    s = summary(module, (5, 2, module.input_size), receptive_fields=False)  # type: ignore[arg-type]
    assert s.total_params == expected == sum(p.numel() for p in module.parameters())
    assert s.layers[0].formula.endswith(f"= {expected:,}")


class TiedLM(nn.Module):
    """A language model whose decoder reuses the embedding matrix (weight tying)."""

    def __init__(self, vocab: int = 50, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, dim, batch_first=True)
        self.decoder = nn.Linear(dim, vocab)
        self.decoder.weight = self.embed.weight

    def forward(self, idx):  # type: ignore[no-untyped-def]
        h, _ = self.rnn(self.embed(idx))
        return self.decoder(h)


def test_tied_and_shared_weights_counted_once() -> None:
    import torch

    model = TiedLM()
    s = summary(model, (2, 9), input_dtypes=[torch.int64], receptive_fields=False)
    by_hand = 50 * 16 + 3 * 16 * (16 + 16 + 2) + 50  # embedding, GRU, decoder bias only
    assert s.total_params == by_hand == sum(p.numel() for p in model.parameters())
    dec = s.layer("decoder")
    assert dec.params == 50 and dec.shared_params == 50 * 16 and dec.shared_with == ["embed"]

    block = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    shared = nn.Sequential(block, block)  # the same module called twice
    s2 = summary(shared, (1, 8), receptive_fields=False)
    assert s2.total_params == 8 * 8 + 8
    assert s2.total_macs == 2 * 8 * 8  # but it runs twice
