"""Every model form and input form the analyzer takes, each checked against independent oracles.

Oracles: parameters against the unique ``numel()`` sum of the model (after a real forward, for lazy
layers); MACs against ``torch.utils.flop_counter.FlopCounterMode`` on a real forward of the same
model on random inputs (oneDNN off, so that a CPU LSTM runs as matrix products that it counts);
output shapes against the real forward's. The models are written here for these tests.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.utils.flop_counter import FlopCounterMode

from netanatomy.analysis.summary import summary
from netanatomy.capture.inputs import TensorSpec
from netanatomy.cli.main import main
from netanatomy.errors import UserError


def real_macs(model: nn.Module, *args: Any, **kwargs: Any) -> tuple[int, Any]:
    """MACs of a real forward by PyTorch's own counter (2 FLOPs per MAC), and its output."""
    counter = FlopCounterMode(display=False)
    with torch.backends.mkldnn.flags(enabled=False), counter, torch.no_grad():
        out = model(*args, **kwargs)
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2, out


def unique_params(model: nn.Module) -> int:
    seen: dict[int, int] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        seen[id(p)] = p.numel()
    return sum(seen.values())


def real_output_shapes(model: nn.Module, *args: Any, **kwargs: Any) -> dict[str, tuple[int, ...]]:
    """Each module's output shape on a real forward, for modules that return one tensor."""
    shapes: dict[str, tuple[int, ...]] = {}

    def hook(name: str) -> Any:
        def record(module: nn.Module, args: Any, out: Any) -> None:
            if isinstance(out, torch.Tensor):
                shapes.setdefault(name, tuple(out.shape))
        return record

    hooks = [m.register_forward_hook(hook(name)) for name, m in model.named_modules()]
    try:
        with torch.no_grad():
            model(*args, **kwargs)
    finally:
        for h in hooks:
            h.remove()
    return shapes


def assert_layer_shapes(s: Any, real: dict[str, tuple[int, ...]]) -> None:
    checked = 0
    for rec in s.layers:
        if rec.name in real and rec.calls:
            assert rec.output_shapes == [real[rec.name]], rec.name
            checked += 1
    assert checked >= 2


# --- the models ------------------------------------------------------------------------------

class LazyNet(nn.Module):
    """Every layer infers its input size on the first call."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.LazyConv2d(6, 3)
        self.norm = nn.LazyBatchNorm2d()
        self.head = nn.LazyLinear(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.norm(self.conv(x))).flatten(1))


class Gated(nn.Module):
    """A matmul on a raw parameter (no nn.Linear) next to ordinary layers: for TorchScript."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.proj = nn.Parameter(torch.randn(4 * 5 * 5, 7))
        self.out = nn.Linear(7, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x)).flatten(1) @ self.proj
        return self.out(torch.tanh(h))


class TwinEncoder(nn.Module):
    """Two positional inputs through one shared encoder; returns a dict with a None in it."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 5))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> dict[str, Any]:
        return {"distance": (self.encoder(x1) - self.encoder(x2)).pow(2).sum(1), "attention": None}


class Views(NamedTuple):
    image: torch.Tensor
    depth: torch.Tensor


class Fused(NamedTuple):
    logits: torch.Tensor
    features: torch.Tensor


class FusionNet(nn.Module):
    """A NamedTuple input, a dict keyword input, a 0-d temperature; a NamedTuple output."""

    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Conv2d(3, 4, 3)
        self.depth = nn.Conv2d(1, 4, 3)
        self.meta = nn.Linear(5, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, views: Views, extra: dict[str, torch.Tensor], temperature: torch.Tensor) -> Fused:
        f = (self.image(views.image) + self.depth(views.depth)).mean((2, 3))  # N x 4
        f = torch.cat([f, f], 1) + self.meta(extra["tabular"])  # N x 8
        return Fused(self.head(f) / temperature, f)


class GaussianPolicy(nn.Module):
    """Returns a torch.distributions object, whose constructor validates its arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(5, 16)
        self.mean = nn.Linear(16, 3)
        self.log_std = nn.Linear(16, 3)

    def forward(self, obs: torch.Tensor) -> torch.distributions.Distribution:
        h = torch.tanh(self.body(obs))
        return torch.distributions.Normal(self.mean(h), self.log_std(h).exp())


class PackedTagger(nn.Module):
    """An LSTM over padded sequences packed by their lengths (a real CPU int64 tensor)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 6)
        self.rnn = nn.LSTM(6, 8, batch_first=True)
        self.tag = nn.Linear(8, 4)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.embed(tokens), lengths, batch_first=True)
        out, _ = self.rnn(packed)
        return self.tag(pad_packed_sequence(out, batch_first=True)[0])


class EarlyExit(nn.Module):
    """Reads a value: how many of its blocks run depends on the data."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(4, 4) for _ in range(3))
        self.gate = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = torch.relu(block(x))
            if float(self.gate(x).mean()) > 1e9:  # never true, but only a value can say so
                break
        return x


# --- the forms, by the API -------------------------------------------------------------------

def test_lazy_layers_analyse_and_stay_lazy() -> None:
    model = LazyNet()
    s = summary(model, (2, 3, 9, 9), receptive_fields=False)
    assert isinstance(model.head.weight, nn.parameter.UninitializedParameter)  # the user's model untouched
    real = LazyNet().eval()  # (torch cannot deep-copy a lazy batch norm)
    x = torch.randn(2, 3, 9, 9)
    macs, _ = real_macs(real, x)  # the first real call materialises it
    assert s.total_params == unique_params(real) == 3 * 3 * 3 * 6 + 6 + 2 * 6 + 6 * 7 * 7 * 4 + 4
    assert s.total_macs == macs
    assert_layer_shapes(s, real_output_shapes(real, x))


def test_torchscript_totals_are_exact() -> None:
    eager = Gated().eval()
    scripted = torch.jit.script(eager)
    s = summary(scripted, (2, 2, 5, 5), receptive_fields=False)
    x = torch.randn(2, 2, 5, 5)
    macs, out = real_macs(scripted, x)
    assert s.total_params == unique_params(scripted) == unique_params(eager)
    assert s.total_macs == macs == 2 * (25 * 4 * 2 * 9 + 100 * 7 + 7 * 3)
    assert [r.shape for r in s.graph.outputs] == [tuple(out.shape)]
    # No hooks on a script: an op that reads a submodule's parameters is that submodule's; the
    # matmul on the model's own parameter stays at the top level; the rows add up.
    assert s.layer("conv").macs == 2 * 25 * 4 * 2 * 9 and s.layer("out").macs == 2 * 7 * 3
    assert s.layers[0].self_macs == 2 * 100 * 7
    assert s.layer("conv").params == 2 * 9 * 4 + 4
    assert_layer_shapes(s, real_output_shapes(eager, x))


def test_two_positional_inputs_and_dict_output() -> None:
    model = TwinEncoder().eval()
    s = summary(model, [(3, 6), (3, 6)], receptive_fields=False)
    a, b = torch.randn(3, 6), torch.randn(3, 6)
    macs, out = real_macs(model, a, b)
    assert s.total_params == unique_params(model)  # the shared encoder once
    assert s.total_macs == macs
    assert [r.shape for r in s.graph.outputs] == [tuple(out["distance"].shape)]
    assert_layer_shapes(s, real_output_shapes(model, a, b))


def test_namedtuple_dict_keyword_and_scalar_inputs() -> None:
    model = FusionNet().eval()
    views = Views(TensorSpec((2, 3, 6, 6)), TensorSpec((2, 1, 6, 6)))
    s = summary(model, input_data=(views, {"tabular": TensorSpec((2, 5))}),
                input_kwargs={"temperature": TensorSpec(())}, receptive_fields=False)
    real_args = (Views(torch.randn(2, 3, 6, 6), torch.randn(2, 1, 6, 6)), {"tabular": torch.randn(2, 5)})
    macs, out = real_macs(model, *real_args, temperature=torch.tensor(2.0))
    assert s.total_params == unique_params(model)
    assert s.total_macs == macs
    assert s.input_sizes == [(2, 3, 6, 6), (2, 1, 6, 6), (2, 5), ()]
    assert sorted(r.shape for r in s.graph.outputs) == sorted([tuple(out.logits.shape), tuple(out.features.shape)])
    assert_layer_shapes(s, real_output_shapes(model, *real_args, temperature=torch.tensor(2.0)))


def test_distribution_output() -> None:
    model = GaussianPolicy().eval()
    before = torch.distributions.Distribution._validate_args
    s = summary(model, (4, 5), receptive_fields=False)
    assert torch.distributions.Distribution._validate_args == before  # validation restored
    macs, out = real_macs(model, torch.randn(4, 5))
    assert s.total_params == unique_params(model)
    assert s.total_macs == macs
    assert s.layers[0].output_shapes == [tuple(out.loc.shape), tuple(out.scale.shape)]


def test_packed_sequence_with_real_lengths() -> None:
    model = PackedTagger().eval()
    lengths = torch.tensor([7, 4, 2])
    s = summary(model, input_data=(TensorSpec((3, 7), torch.int64), lengths), receptive_fields=False)
    tokens = torch.randint(0, 20, (3, 7))
    macs, out = real_macs(model, tokens, lengths)
    assert s.total_params == unique_params(model)
    # By hand: the LSTM runs 7 + 4 + 2 = 13 rows of 4·8·(6 + 8) MACs; the tagger 3·7 rows of 8·4.
    assert s.total_macs == macs == 13 * 4 * 8 * (6 + 8) + 3 * 7 * 8 * 4
    assert [r.shape for r in s.graph.outputs] == [tuple(out.shape)]
    assert s.input_dtypes == ["int64", "int64"]


def test_data_dependent_forward_names_layer_and_op_and_materializes_on_request() -> None:
    model = EarlyExit().eval()
    with pytest.raises(UserError) as err:
        summary(model, (2, 4), receptive_fields=False)
    msg = str(err.value)
    assert "aten._local_scalar_dense" in msg and "--materialize" in msg and "check --input" not in msg
    s = summary(model, (2, 4), receptive_fields=False, materialize=True)
    macs, _ = real_macs(model, torch.randn(2, 4))
    assert s.total_macs == macs and s.total_params == unique_params(model)


def test_wrong_number_of_inputs_is_one_clear_error() -> None:
    with pytest.raises(UserError, match=r"TwinEncoder.forward needs x2"):
        summary(TwinEncoder(), (3, 6))
    with pytest.raises(UserError, match=r"Gated takes 1 input, got 2"):
        summary(Gated(), [(1, 2, 5, 5), (1, 2, 5, 5)])


# --- the command line -------------------------------------------------------------------------

MODELS = '''
import torch, torch.nn as nn

class TokenClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.rnn = nn.GRU(8, 12, batch_first=True)
        self.head = nn.Linear(12 + 1, 3)
    def forward(self, ids, lengths):
        out, _ = self.rnn(self.embed(ids))
        return self.head(torch.cat([out[:, -1], lengths.float().unsqueeze(1)], 1))

class Twin(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 2)
    def forward(self, x1, x2):
        return self.enc(x1) - self.enc(x2)

class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
    def forward(self, x, scale):
        return self.lin(x) * scale

class Eager(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        if float(self.lin.weight.abs().sum()) < 0:  # reads a value while building
            raise AssertionError
    def forward(self, x):
        return self.lin(x)

def tokens(): return TokenClassifier()
def twin(): return Twin()
def scaled(): return Scaled()
def eager(): return Eager()
def reads(): return nn.Sequential(nn.Linear(4, 4), Gate())

class Gate(nn.Module):
    def forward(self, x):
        return x if bool((x > 0).any()) else -x
'''


@pytest.fixture(scope="module")
def models_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("forms") / "forms_models.py"
    path.write_text(MODELS)
    return str(path)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_dtype_per_input(capsys: pytest.CaptureFixture[str], models_file: str) -> None:
    code, out, _ = cli(capsys, "summary", f"{models_file}:tokens", "--input", "2x9:int64,2:int64", "-f", "json")
    assert code == 0
    data = json.loads(out)
    ns: dict[str, Any] = {}
    exec(compile(MODELS, "forms_models", "exec"), ns)
    model = ns["tokens"]().eval()
    macs, _ = real_macs(model, torch.randint(0, 50, (2, 9)), torch.tensor([9, 5]))
    assert data["input_dtypes"] == ["int64", "int64"]
    assert data["totals"]["params"] == unique_params(model)
    assert data["totals"]["macs"] == macs


def test_cli_scalar_input(capsys: pytest.CaptureFixture[str], models_file: str) -> None:
    for spelling in ("2x4,:float32", "2x4,scalar:float32", "2x4,scalar"):
        code, out, _ = cli(capsys, "summary", f"{models_file}:scaled", "--input", spelling, "-f", "json")
        assert code == 0, spelling
        assert json.loads(out)["input_sizes"] == [[2, 4], []]
    code, out, _ = cli(capsys, "summary", f"{models_file}:scaled", "--input", "2x4,:float32")
    assert "input 2x4/scalar" in out


@pytest.mark.parametrize(
    ("argv", "needles", "absent"),
    [
        (["summary", "resnet18", "--input", "1x3x32x32,1x3x32x32"], ["resnet18 takes 1 input, got 2"], ["?"]),
        (["summary", "{f}:twin", "--input", "1x4"], ["Twin.forward needs x2"], ["Traceback"]),
        (["summary", "vgg16", "--input", "1x1x64x64"], ["layer 'features.0' (Conv2d)", "aten.convolution",
                                                         "1x1x64x64", "check --input"], ["?"]),
        (["summary", "{f}:tokens", "--input", "2x9,2"], ["layer 'embed' (Embedding)", "check --input"], []),
        (["summary", "{f}:reads", "--input", "2x4"], ["layer '1' (Gate)", "aten._local_scalar_dense",
                                                      "--materialize"], ["check --input"]),
        (["summary", "{f}:eager", "--input", "2x4"], ["the factory raised", "meta device", "--materialize"], []),
        (["summary", "vgg16", "--input", "1x3x224x224:int65"], ["unknown input dtype 'int65'"], []),
        (["summary", "vgg16", "--input", "1x3x0x224"], ["must be positive"], []),
        (["summary", "vgg16", "--input", "1x3x224x224:"], ["malformed input"], []),
        (["summary", "resnet18", "--seq-len", "16"], ["--seq-len", "give --input"], []),
        (["summary", "transformers:AutoModel"], ["never downloads", "name a model class"], []),
        (["summary", "transformers:meta-llama/Llama-2-7b-hf"], ["never downloads"], []),
    ],
)
def test_cli_errors_name_the_true_cause(capsys: pytest.CaptureFixture[str], models_file: str, argv: list[str],
                                        needles: list[str], absent: list[str]) -> None:
    code, _, err = cli(capsys, *[a.replace("{f}", models_file) for a in argv])
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    for needle in needles:
        assert needle in err
    for word in absent:
        assert word not in err.removeprefix("netanatomy: error: ")


def test_cli_materialize_states_its_cost_first(capsys: pytest.CaptureFixture[str], models_file: str) -> None:
    code, out, err = cli(capsys, "summary", f"{models_file}:reads", "--input", "2x4", "--materialize", "-f", "json")
    assert code == 0
    assert "--materialize" in err and "80 B of parameters and buffers" in err  # (4·4 + 4) float32
    ns: dict[str, Any] = {}
    exec(compile(MODELS, "forms_models", "exec"), ns)
    model = ns["reads"]().eval()
    macs, _ = real_macs(model, torch.randn(2, 4))
    assert json.loads(out)["totals"]["macs"] == macs


def test_cli_factory_that_needs_the_cpu_builds_with_materialize(capsys: pytest.CaptureFixture[str],
                                                                models_file: str) -> None:
    code, out, err = cli(capsys, "summary", f"{models_file}:eager", "--input", "2x4", "--materialize", "-f", "json")
    assert code == 0 and "unknown until built" in err
    assert json.loads(out)["totals"]["params"] == 4 * 3 + 3


def test_our_own_bug_inside_a_capture_is_an_internal_error(capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import netanatomy.capture.tracer as tracer

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("a bug in the MAC formulas")

    monkeypatch.setattr(tracer, "op_macs", broken)
    code, _, err = cli(capsys, "summary", "resnet20")
    assert code == 1 and "internal error" in err and "check --input" not in err
