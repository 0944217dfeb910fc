"""``netanatomy explain``: every number of every topic against an independent computation.

Each default answer is computed once (module fixture) and rendered in both languages; the oracles
are hand derivations written out here, real forward passes with hooks, autograd and finite
differences, torch's own flop counter, and ``math.exp``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from netanatomy.explain import Answer, explain, list_topics
from netanatomy.explain.answer import Para

LANGS = ("en", "ko")
# Every topic at its defaults (rnn-weights captures 1,000 time steps: the slowest, a few seconds).
OPTIONS: dict[str, dict[str, object]] = {}


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Answer]:
    out = {}
    for topic in list_topics():
        opts = dict(OPTIONS.get(topic, {}))
        if topic == "markov":
            opts["run_dir"] = str(tmp_path_factory.mktemp("markov"))
        out[topic] = explain(topic, **opts)
    return out


def close(a: float, b: float, rel: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def _meta_vgg16() -> nn.Module:
    from netanatomy import create_model

    return create_model("vgg16", device="meta")


def _hooked_shapes(model: nn.Module, size: tuple[int, ...]) -> dict[str, tuple[nn.Module, tuple[int, ...], tuple[int, ...]]]:
    """A real forward pass on meta tensors: each leaf's (module, input shape, output shape)."""
    seen: dict[str, tuple[nn.Module, tuple[int, ...], tuple[int, ...]]] = {}
    hooks = []
    def hook(name: str):
        def record(mod: nn.Module, i: tuple[torch.Tensor, ...], o: torch.Tensor) -> None:
            seen.setdefault(name, (mod, tuple(i[0].shape), tuple(o.shape)))
        return record

    for name, m in model.named_modules():
        if name and not any(m.children()):
            hooks.append(m.register_forward_hook(hook(name)))
    with torch.no_grad():
        model(torch.empty(size, device="meta"))
    for h in hooks:
        h.remove()
    return seen


# -- params ---------------------------------------------------------------------------------------


def test_params_vgg16_first_conv(answers):
    n = answers["params"].numbers
    # VGG16 conv1_1: 64 filters of 3x3 over the 3 RGB channels, one bias each.
    assert n["total"] == 3 * 3 * 3 * 64 + 64 == 1792
    assert n["weights"] == 1728 and n["biases"] == 64
    assert n["per_filter"] == 27 and n["kernel_area"] == 9
    assert n["without_depth"] == 3 * 3 * 64 == 576  # the notes' width·height·filters
    assert n["positions"] == 224 * 224
    assert n["macs"] == 224 * 224 * 64 * 27 == 86_704_128


def test_params_resnet50_layer_without_bias():
    n = explain("params", "resnet50", layer="layer1.0.conv2").numbers
    assert n["total"] == 3 * 3 * 64 * 64 == 36_864 and n["biases"] == 0
    assert n["macs"] == 56 * 56 * 64 * 3 * 3 * 64


def test_params_where_vgg16_keeps_them():
    n = explain("params", "vgg16").numbers
    model = _meta_vgg16()
    conv = sum(p.numel() for m in model.modules() if isinstance(m, nn.Conv2d) for p in m.parameters())
    fc = sum(p.numel() for m in model.modules() if isinstance(m, nn.Linear) for p in m.parameters())
    conv_macs = fc_macs = 0
    for m, _i, o in _hooked_shapes(model, (1, 3, 224, 224)).values():
        if isinstance(m, nn.Conv2d):
            conv_macs += o[1] * o[2] * o[3] * 9 * m.in_channels
        elif isinstance(m, nn.Linear):
            fc_macs += m.in_features * m.out_features
    assert n["total"] == conv + fc == 138_357_544  # Simonyan & Zisserman 2015, Table 2: 138M
    assert (n["conv.params"], n["linear.params"]) == (conv, fc)
    assert (n["conv.macs"], n["linear.macs"]) == (conv_macs, fc_macs)
    assert close(n["linear.params_share"], fc / (conv + fc))
    assert n["biggest_params"] == 25088 * 4096 + 4096


# -- receptive field ------------------------------------------------------------------------------


def _stack(k: int, s: int, n: int) -> list[tuple[int, int]]:
    r, j, out = 1, 1, []
    for _ in range(n):
        r, j = r + (k - 1) * j, j * s
        out.append((r, j))
    return out


def test_receptive_field_three_3x3(answers):
    n = answers["receptive-field"].numbers
    assert [n["r1"], n["r2"], n["r3"]] == [3, 5, 7] == [r for r, _ in _stack(3, 1, 3)]
    assert n["field"] == 7 and n["field_area"] == 49 and n["first_area"] == 9
    assert n["wrong_sum"] == 3 + 5 + 7 == 15
    assert n["big_weights"] == 7 * 7 * 64 * 64 and n["stack_weights"] == 3 * 3 * 3 * 64 * 64
    assert (n["big_weights_per_c2"], n["stack_weights_per_c2"]) == (49, 27)
    assert (n["big_relus"], n["stack_relus"]) == (1, 3)


def test_receptive_field_options_follow_the_recurrence():
    n = explain("receptive-field", kernel=5, stride=2, layers=4, channels=8).numbers
    for i, (r, j) in enumerate(_stack(5, 2, 4), 1):
        assert (n[f"r{i}"], n[f"j{i}"]) == (r, j)
    assert "big_k" not in n  # one big conv matches the stack only at stride 1


def test_receptive_field_of_a_model_layer():
    n = explain("receptive-field", "resnet18", layer="layer2").numbers
    # Stem 7/2 then 3/2 pool: r = 7 (j 2), 11 (j 4); layer1: four 3x3 at j 4: 11 + 4·8 = 43;
    # layer2: its first 3x3 has stride 2 (adds 2·4, then j = 8), three more at j 8: 51 + 3·16 = 99.
    assert n["field"] == n["field_w"] == 99 and n["jump"] == 8
    assert n["steps"] == 10


# -- conv1x1 --------------------------------------------------------------------------------------


def test_conv1x1(answers):
    n = answers["conv1x1"].numbers
    assert n["params"] == 64 * 32 + 32 == 2080 and n["macs"] == 56 * 56 * 64 * 32
    # The worked pixel, from the printed vectors: a weighted sum plus a bias, not a plain sum.
    xs = [n[f"x{i}"] for i in range(4)]
    ws = [n[f"w{i}"] for i in range(4)]
    assert n["dot"] == sum(w * x for w, x in zip(ws, xs))
    assert n["dot_plus_b"] == n["dot"] + n["b"] == n["conv_out"]
    assert n["plain_sum"] == sum(xs) and n["relu_out"] == max(0, n["conv_out"])
    assert n["matmul_diff"] == 0.0
    for k in (3, 5):
        direct = 56 * 56 * k * k * 64 * 64
        reduced = 56 * 56 * 64 * 32 + 56 * 56 * k * k * 32 * 64
        assert (n[f"direct{k}"], n[f"reduced{k}"]) == (direct, reduced)
        assert close(n[f"saved{k}"], 1 - reduced / direct)


# -- bottleneck -----------------------------------------------------------------------------------


def test_bottleneck(answers):
    n = answers["bottleneck"].numbers
    hw = 28 * 28
    naive = {"branch1x1": hw * 256 * 128, "branch3x3": hw * 256 * 9 * 192, "branch5x5": hw * 256 * 25 * 96, "branch_pool": 0}
    reduced = {"branch1x1": hw * 256 * 128, "branch3x3": hw * 256 * 64 + hw * 64 * 9 * 192,
               "branch5x5": hw * 256 * 64 + hw * 64 * 25 * 96, "branch_pool": hw * 256 * 64}
    for b in naive:
        assert (n[f"naive.{b}"], n[f"reduced.{b}"]) == (naive[b], reduced[b])
    assert n["naive_total"] == sum(naive.values()) == 854_196_224
    assert n["reduced_total"] == sum(reduced.values()) == 271_351_808
    assert n["conv3_macs"] == hw * 192 * 3 * 3 * 64 == 86_704_128
    assert n["slide_figure"] == 271_351_808 + 86_704_128 == 358_055_936  # the slide's "358M"
    assert (n["naive_depth"], n["reduced_depth"]) == (128 + 192 + 96 + 256, 128 + 192 + 96 + 64)
    assert n["naive_params"] == (256 * 128 + 128) + (9 * 256 * 192 + 192) + (25 * 256 * 96 + 96)
    assert n["reduced_params"] == (256 * 128 + 128) + (256 * 64 + 64 + 9 * 64 * 192 + 192) \
        + (256 * 64 + 64 + 25 * 64 * 96 + 96) + (256 * 64 + 64)


# -- residual -------------------------------------------------------------------------------------


def _grads(name: str, seed: int = 0) -> tuple[float, float]:
    from netanatomy import create_model

    torch.manual_seed(seed)
    model = create_model(name).double()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 3, 32, 32, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 10, (8,), generator=gen)
    loss = nn.functional.cross_entropy(model(x), y)
    first, last = torch.autograd.grad(loss, [model.conv1.weight, model.fc.weight])
    return float(first.norm()), float(last.norm())


def test_residual(answers):
    n = answers["residual"].numbers
    x = torch.relu(torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(0)))
    assert n["res_diff"] == 0.0  # F = 0: the residual block is exactly the identity on x >= 0
    assert close(n["plain_diff"], float(x.max()), 1e-6) and close(n["x_max"], float(x.max()), 1e-6)
    assert n["plain_out_max"] == 0.0  # the plain block: ReLU(0) = 0
    for name in ("plain20", "resnet20", "plain56", "resnet56"):
        first, last = _grads(name)
        assert close(n[f"{name}.grad_first"], first, 1e-4) and close(n[f"{name}.grad_fc"], last, 1e-4)
        assert close(n[f"{name}.grad_ratio"], first / last, 1e-4)


REPORT = """# Degradation: plain vs residual networks (20 and 56 layers)

| network | final train loss | train error | val error | best val error | time |
|---|---:|---:|---:|---:|---:|
| plain20 | 0.0512 | 1.30% | 2.00% | 1.90% | 60s |
| plain56 | 0.4900 | 14.30% | 15.00% | 14.00% | 160s |
| resnet20 | 0.0410 | 1.10% | 1.80% | 1.70% | 61s |
| resnet56 | 0.0400 | 1.00% | 1.60% | 1.50% | 170s |
"""


def test_residual_reads_a_degradation_report(tmp_path):
    (tmp_path / "degradation.md").write_text(REPORT, encoding="utf-8")
    a = explain("residual", report=str(tmp_path))
    n = a.numbers
    assert (n["plain20.train_loss"], n["plain56.train_loss"], n["resnet56.train_loss"]) == (0.0512, 0.49, 0.04)
    assert close(n["plain56.train_error"], 0.143)
    assert (a.names["plain_hi"], a.names["plain_hi_loss"]) == ("plain56", "0.4900")
    for lang in LANGS:
        assert "0.4900" in a.to_text(lang) and "14.30%" in a.to_text(lang)


# -- gap ------------------------------------------------------------------------------------------


def test_gap(answers):
    n = answers["gap"].numbers
    assert (n["c"], n["h"], n["w"], n["flat"]) == (512, 7, 7, 25088)
    assert n["vgg_fc_params"] == 25088 * 4096 + 4096 == 102_764_544
    assert n["gap_fc_params"] == 512 * 4096 + 4096
    assert n["googlenet.head_params"] == 1024 * 1000 + 1000  # Szegedy et al. 2015: avg pool, then FC 1000
    assert n["nin.head_params"] == 0  # Lin et al. 2014: class maps averaged, no FC
    assert (n["big_h"], n["big_c"]) == (320 // 32, 1024)
    assert n["vgg_big_flat"] == 512 * 10 * 10


def test_gap_on_resnet50():
    n = explain("gap", "resnet50").numbers
    assert (n["c"], n["hw"], n["head_params"]) == (2048, 49, 2048 * 1000 + 1000)
    assert n["flat_fc_params"] == 2048 * 49 * 1000 + 1000


# -- nin ------------------------------------------------------------------------------------------


def test_nin(answers):
    n = answers["nin"].numbers
    assert n["max_diff"] == 0.0
    assert [n[f"y{i}"] for i in range(3)] == [n[f"lin{i}"] for i in range(3)]
    # Lin et al.'s CIFAR-10 NiN: mlpconv (5x5 192, 1x1 160, 1x1 96), (5x5 192, 192, 192), (3x3 192, 192, 10).
    layers = [("mlpconv1.layers.0", 5, 3, 192), ("mlpconv1.layers.2", 1, 192, 160), ("mlpconv1.layers.4", 1, 160, 96),
              ("mlpconv2.layers.0", 5, 96, 192), ("mlpconv2.layers.2", 1, 192, 192), ("mlpconv2.layers.4", 1, 192, 192),
              ("mlpconv3.layers.0", 3, 192, 192), ("mlpconv3.layers.2", 1, 192, 192), ("mlpconv3.layers.4", 1, 192, 10)]
    for name, k, cin, cout in layers:
        assert n[f"{name}.params"] == k * k * cin * cout + cout
    assert n["total"] == sum(k * k * cin * cout + cout for _, k, cin, cout in layers)
    # Fields: 5 through the first mlpconv; 3/2 pool: 7, j 2; 5x5: 7 + 4·2 = 15; 3/2 pool: 19, j 4; 3x3: 27.
    assert [n[f"mlpconv{b}.layers.0.rf"] for b in (1, 2, 3)] == [5, 15, 27]
    assert n["patch"] == 5 * 5 * 3


# -- rnn-weights ----------------------------------------------------------------------------------


def test_rnn_weights_counts(answers):
    n = answers["rnn-weights"].numbers
    v, h, t = 65, 128, 1000
    # PyTorch's layout per layer: G·H·(I + H + 2 biases); decoder W_hy H·V + V; one-hot input I = V.
    dec = h * v + v
    for name, g in (("char_rnn", 1), ("char_lstm", 4), ("char_gru", 3)):
        params = g * h * (v + h + 2) + dec  # one layer
        macs = g * (h * v + h * h) + h * v  # per character
        assert n[f"{name}.params_1"] == n[f"{name}.params_T"] == params
        assert (n[f"{name}.macs_1"], n[f"{name}.macs_T"]) == (macs, t * macs)


def test_rnn_weights_bptt_against_finite_differences(answers):
    from netanatomy.explain.rnn import HELLO, HELLO_VOCAB, hello_gradients

    n = answers["rnn-weights"].numbers
    mats, _, _, _ = hello_gradients(0, 3)
    ids = [HELLO_VOCAB.index(c) for c in HELLO]

    def unroll(w_per_step: list[torch.Tensor]) -> tuple[float, list[torch.Tensor], list[float]]:
        h, total, hs, losses = torch.zeros(3, dtype=torch.float64), 0.0, [], []
        for t, w in enumerate(w_per_step):
            x = torch.zeros(4, dtype=torch.float64)
            x[ids[t]] = 1
            h = torch.tanh(mats["W_xh"] @ x + w @ h + mats["b_h"])
            y = mats["W_hy"] @ h + mats["b_y"]
            losses.append(float(torch.logsumexp(y, 0) - y[ids[t + 1]]))  # cross-entropy written out
            hs.append(h)
            total += losses[-1]
        return total, hs, losses

    def loss(w_per_step: list[torch.Tensor]) -> float:
        return unroll(w_per_step)[0]

    _, hs, losses = unroll([mats["W_hh"]] * 4)
    for t in range(4):
        assert abs(n[f"loss{t + 1}"] - losses[t]) < 1e-12
        for k in range(3):
            assert abs(n[f"h{t + 1}.{k}"] - float(hs[t][k])) < 1e-12

    eps, w0 = 1e-6, mats["W_hh"]
    terms = []
    for step in range(4):  # perturb only the W_hh that step `step` uses
        g = torch.zeros(3, 3, dtype=torch.float64)
        for i in range(3):
            for j in range(3):
                d = torch.zeros(3, 3, dtype=torch.float64)
                d[i, j] = eps
                plus = [w0 + d if s == step else w0 for s in range(4)]
                minus = [w0 - d if s == step else w0 for s in range(4)]
                g[i, j] = (loss(plus) - loss(minus)) / (2 * eps)
        terms.append(g)
    shared = torch.zeros(3, 3, dtype=torch.float64)  # perturb the one W_hh everywhere
    for i in range(3):
        for j in range(3):
            d = torch.zeros(3, 3, dtype=torch.float64)
            d[i, j] = eps
            shared[i, j] = (loss([w0 + d] * 4) - loss([w0 - d] * 4)) / (2 * eps)
    for t, g in enumerate(terms, 1):
        assert abs(n[f"term{t}"] - float(g.norm())) < 1e-6
    assert n["term1"] == 0.0  # h_0 = 0: W_hh does not act at the first step
    assert abs(n["grad_norm"] - float(shared.norm())) < 1e-6
    assert abs(n["sum_norm"] - float(sum(terms).norm())) < 1e-6
    assert n["max_diff"] < 1e-12
    assert (n["x_grad_rows"], n["x_grad_cols"], n["H"]) == (4, 4, 3)


# -- sampling -------------------------------------------------------------------------------------


def test_sampling(answers):
    n = answers["sampling"].numbers
    scores = [1.0, 2.2, -3.0, 4.1]  # the slide's h, e, l, o
    z = sum(math.exp(s) for s in scores)
    p = [math.exp(s) / z for s in scores]
    for i in range(4):
        assert close(n[f"p.{i}"], p[i], 1e-12)
    assert round(p[1], 2) == 0.13 and round(p[3], 2) == 0.84  # the slide's e 0.13, o 0.84
    assert (n["p_second"], n["p_best"]) == (p[1], p[3])
    # Draws by inverse CDF from the same uniform numbers.
    us = torch.rand(1000, generator=torch.Generator().manual_seed(0), dtype=torch.float64).tolist()
    cum = [sum(p[: i + 1]) for i in range(4)]
    counts = [0] * 4
    for u in us:
        counts[next((i for i, c in enumerate(cum) if u < c), 3)] += 1
    assert [n[f"count.{i}"] for i in range(4)] == counts
    assert close(n["u"], us[0], 1e-12)
    for label, t, k in (("T=0.5", 0.5, None), ("T=1", 1.0, None), ("T=2", 2.0, None), ("T=1, top-k=2", 1.0, 2)):
        keep = sorted(range(4), key=lambda i: -scores[i])[: k or 4]
        e = [math.exp(s / t) if i in keep else 0.0 for i, s in enumerate(scores)]
        for i in range(4):
            assert close(n[f"{label}.{i}"], e[i] / sum(e), 1e-9)


def test_sampling_rejects_malformed_scores():
    from netanatomy.errors import UserError

    with pytest.raises(UserError, match="CHAR=SCORE"):
        explain("sampling", scores="h:1,e=2")


# -- markov ---------------------------------------------------------------------------------------


def test_markov(answers, tmp_path):
    from netanatomy.charlm.checkpoint import load_model
    from netanatomy.charlm.corpus import load_corpus
    from netanatomy.charlm.markov import BAR

    a = answers["markov"]
    n = a.numbers
    assert close(n["chance"], math.log(8), 1e-12)
    assert (n["distance"], n["order3.context"], n["order5.context"]) == (7, 2, 4)
    # The LSTM's loss at the recalls, recomputed from its checkpoint with a plain forward pass.
    run = Path(a.names["run_dir"])
    model, vocab, _ = load_model(run / "lstm")
    val = torch.from_numpy(load_corpus(run / "markov.txt", tmp_path, vocab=vocab, min_train=66).val.astype("int64"))
    bar = vocab.encode(BAR)[0]
    with torch.no_grad():
        logits, _ = model(val[None, :-1])
    pos = [i for i in range(1, len(val)) if val[i - 1] == bar]
    loss = nn.functional.cross_entropy(logits[0, [i - 1 for i in pos]], val[pos])
    assert close(n["lstm_recall"], float(loss), 1e-4)
    assert n["lstm_recall"] < n["chance"] / 2  # it learned to carry the key
    assert min(n["ngram3.recall"], n["ngram5.recall"]) > n["chance"] - 0.2  # no n-gram beats chance by much
    _check_reach(n, model, vocab.size, order=5)


def _check_reach(n: dict, model: nn.Module, vocab_size: int, order: int) -> None:
    """The reach table: change one character d back in a seeded random string, total variation of the prediction."""
    x = torch.randint(0, vocab_size, (1, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        p = torch.softmax(model(x)[0][0, -1].double(), -1)
        for d in (1, 2, 4, 8, 16, 32, 64):
            y = x.clone()
            y[0, 64 - d] = (y[0, 64 - d] + 1) % vocab_size
            q = torch.softmax(model(y)[0][0, -1].double(), -1)
            assert close(n[f"reach{d}.rnn"], float((p - q).abs().sum() / 2), 1e-9)
            assert (f"reach{d}.ngram" in n) == (d >= order)
    assert n["reach8.rnn"] > 0  # beyond both n-grams' windows, the LSTM's prediction still moves


def test_markov_on_a_users_checkpoint(answers):
    from netanatomy.charlm.checkpoint import load_model

    run = Path(answers["markov"].names["run_dir"]) / "lstm"
    a = explain("markov", checkpoint=str(run))
    n = a.numbers
    model, vocab, _ = load_model(run)
    assert (n["layers"], n["hidden"], n["vocab"]) == (1, 32, vocab.size)
    assert n["state_values"] == 2 * 1 * 32  # an LSTM's h and c
    _check_reach(n, model, vocab.size, order=3)


# -- vgg-memory and macs-flops ------------------------------------------------------------------


def test_vgg_memory(answers):
    n = answers["vgg-memory"].numbers
    # The lecture's rows: the input and each conv/pool/fc output of one 224x224 image.
    convs = [(224, 64)] * 2 + [(112, 128)] * 2 + [(56, 256)] * 3 + [(28, 512)] * 3 + [(14, 512)] * 3
    pools = [112 * 112 * 64, 56 * 56 * 128, 28 * 28 * 256, 14 * 14 * 512, 7 * 7 * 512]
    rows = [224 * 224 * 3] + [s * s * c for s, c in convs] + pools + [4096, 4096, 1000]
    assert n["total_values"] == sum(rows) == 15_237_608 and n["rows"] == len(rows)
    assert n["total_bytes"] == 4 * sum(rows)
    assert n["top_values"] == 2 * 224 * 224 * 64
    assert n["slide_gap"] == 24_000_000 - sum(rows)
    assert n["params"] == 138_357_544


def test_macs_flops(answers):
    from torch.utils.flop_counter import FlopCounterMode

    n = answers["macs-flops"].numbers
    assert n["layer_macs"] == 224 * 224 * 64 * 3 * 3 * 3 and n["layer_flops"] == 2 * n["layer_macs"]
    assert n["layer_outputs"] == 224 * 224 * 64
    model = _meta_vgg16()
    total = 0
    for m, _, o in _hooked_shapes(model, (1, 3, 224, 224)).values():
        if isinstance(m, nn.Conv2d):
            total += o[1] * o[2] * o[3] * 9 * m.in_channels
        elif isinstance(m, nn.Linear):
            total += m.in_features * m.out_features
    assert n["macs"] == total and round(total / 1e9, 2) == 15.47  # torchvision's GFLOPS column for vgg16
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, 224, 224, device="meta"))
    assert n["torch_flops"] == counter.get_total_flops() == 2 * total
    assert n["uncounted_calls"] == 13 + 2 + 5 + 1  # ReLUs after 13 convs and 2 FCs, 5 max pools, 1 adaptive pool


# -- every topic, both languages ------------------------------------------------------------------

_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]\d+)?%?")


def test_every_number_is_printed_in_both_languages(answers):
    for topic, a in answers.items():
        texts = {lang: a.to_text(lang) for lang in LANGS}
        for name, text in a.texts.items():
            for lang in LANGS:
                assert text in texts[lang] or _only_in_json(a, name), f"{topic}: {name} = {text} not in the {lang} text"
        tokens = {lang: sorted(set(_NUMBER.findall(texts[lang]))) for lang in LANGS}
        assert tokens["en"] == tokens["ko"], f"{topic}: the two languages print different numbers"


def _only_in_json(a: Answer, name: str) -> bool:
    """Numbers that back a printed formula but are not printed themselves (e.g. a count used in a product)."""
    return name in a.numbers and name not in _printed_names(a)


def _printed_names(a: Answer) -> set[str]:
    from netanatomy.explain.messages import catalogue, placeholders

    names: set[str] = set()
    for lang in LANGS:
        m = catalogue(lang)
        for b in a.blocks:
            if isinstance(b, Para):
                names |= placeholders(m[b.key])
    return names


def test_every_topic_has_a_question_and_ends_with_the_next_command(answers):
    assert set(answers) == set(list_topics()) and len(answers) == 12
    for _topic, a in answers.items():
        for lang in LANGS:
            text = a.to_text(lang)
            assert text.rstrip().splitlines()[-1].endswith(a.more) and a.more.startswith("netanatomy ")
            assert a.question(lang) in text.splitlines()[0]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("topic", ["params", "receptive-field", "conv1x1", "bottleneck", "residual", "gap", "nin",
                                   "rnn-weights", "sampling", "markov", "vgg-memory", "macs-flops"])
def test_golden(answers, golden, topic, lang):
    a = answers[topic]
    text = a.to_text(lang)
    if topic == "markov":  # the run directory is a temporary path
        text = text.replace(a.names.get("run_dir", "\0"), "RUN_DIR")
    golden(f"explain/{topic}.{lang}.txt", text)


def test_markdown_parses(answers):
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    for topic, a in answers.items():
        for lang in LANGS:
            tokens = md.parse(a.to_markdown(lang))
            kinds = {t.type for t in tokens}
            assert "heading_open" in kinds and "paragraph_open" in kinds, topic
            if any(type(b).__name__ == "Table" for b in a.blocks):
                assert "table_open" in kinds, topic
            if any(type(b).__name__ == "Code" for b in a.blocks):
                assert "fence" in kinds, topic
