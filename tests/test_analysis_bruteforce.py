"""The analyzer against brute force: a real forward pass, flop_counter, real autograd, real optimizers."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as module_hooks
from torch.utils.flop_counter import FlopCounterMode

from netanatomy.analysis.params import formula
from netanatomy.analysis.summary import summary
from netanatomy.zoo import create_model, get_model_info, list_models


class Branchy(nn.Module):
    """Functional ops in forward: cat, add, view, matmul, pooling, interpolation."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 1)
        self.bn = nn.BatchNorm2d(12)
        self.proj = nn.Parameter(torch.randn(12, 5))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.cat([F.relu(self.a(x)), self.b(x)], dim=1)
        y = self.bn(y) + y
        z = F.max_pool2d(y, 2)
        flat = z.mean(dim=(2, 3)).view(z.shape[0], -1)
        up = F.interpolate(z, scale_factor=2)
        return flat @ self.proj, up


def _small_models() -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    torch.manual_seed(0)
    models: list[tuple[str, nn.Module, tuple[int, ...]]] = [("branchy", Branchy(), (2, 3, 16, 16))]
    for name, size in (("resnet20", (2, 3, 32, 32)), ("plain20", (2, 3, 32, 32)), ("nin", (2, 3, 32, 32)),
                       ("squeezenet1_1", (2, 3, 64, 64)), ("googlenet", (1, 3, 64, 64))):
        models.append((name, create_model(name), size))
    models.append(("lstm", nn.LSTM(6, 10, num_layers=2), (5, 3, 6)))
    return models


SMALL = _small_models()


def _real_shapes(model: nn.Module, size: tuple[int, ...]) -> dict[str, list[tuple[int, ...]]]:
    shapes: dict[str, list[tuple[int, ...]]] = {}
    hooks = []
    for name, m in model.named_modules():
        def hook(mod: nn.Module, args: object, out: object, name: str = name) -> None:
            flat, _ = torch.utils._pytree.tree_flatten(out)
            shapes.setdefault(name, [tuple(t.shape) for t in flat if isinstance(t, torch.Tensor)])
        hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(torch.randn(size))
    finally:
        for h in hooks:
            h.remove()
    return shapes


@pytest.mark.parametrize(("name", "model", "size"), SMALL, ids=[m[0] for m in SMALL])
def test_shapes_and_params_equal_a_real_forward(name: str, model: nn.Module, size: tuple[int, ...]) -> None:
    model.eval()
    s = summary(model, size)
    real = _real_shapes(model, size)
    for rec in s.layers:
        if rec.calls:
            assert rec.output_shapes == real[rec.name], rec.name
    assert s.total_params == sum(p.numel() for p in model.parameters())
    assert s.totals.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize(("name", "model", "size"), SMALL, ids=[m[0] for m in SMALL])
def test_macs_equal_flop_counter_on_a_real_run(name: str, model: nn.Module, size: tuple[int, ...]) -> None:
    model.eval()
    counter = FlopCounterMode(display=False)
    # flop_counter has no formula for the fused mkldnn LSTM kernel; without mkldnn the LSTM runs
    # as plain matrix products, which it counts.
    with torch.backends.mkldnn.flags(enabled=False), counter, torch.no_grad():
        model(torch.randn(size))
    assert summary(model, size).total_macs * 2 == counter.get_total_flops()


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize(("name", "model", "size"), SMALL[:4], ids=[m[0] for m in SMALL[:4]])
def test_saved_bytes_equal_real_autograd(name: str, model: nn.Module, size: tuple[int, ...], mode: str) -> None:
    """What autograd saves on a real run, each storage once; parameters and buffers (batch norm's
    running statistics) are model state, counted elsewhere, so they are excluded."""
    model = copy.deepcopy(model).train(mode == "train")
    param_storages = {p.untyped_storage().data_ptr() for p in (*model.parameters(), *model.buffers())}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in param_storages:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(torch.randn(size))
    assert out is not None  # keep the graph (and the saved tensors) alive until here
    assert summary(model, size, mode=mode).totals.saved_bytes == sum(seen.values())


def test_training_memory_parts_equal_a_real_step() -> None:
    model = create_model("resnet20")
    s = summary(model, (4, 3, 32, 32), mode="train")
    for name, make in (("adam", lambda p: torch.optim.Adam(p)), ("momentum", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))):
        m = copy.deepcopy(model)
        opt = make(m.parameters())
        F.cross_entropy(m(torch.randn(4, 3, 32, 32)), torch.zeros(4, dtype=torch.long)).backward()
        opt.step()
        grads = sum(p.grad.numel() * p.grad.element_size() for p in m.parameters() if p.grad is not None)
        state = sum(v.numel() * v.element_size() for st in opt.state.values() for v in st.values()
                    if isinstance(v, torch.Tensor) and v.dim() > 0)  # Adam's scalar step counters excluded
        parts = s.totals.training_memory(name)
        assert parts["gradients"] == grads
        assert parts[f"optimizer state ({name})"] == state
        assert parts["parameters"] == sum(p.numel() * 4 for p in m.parameters())


@pytest.mark.parametrize("name", list_models())
def test_every_formula_equals_the_tensors(name: str) -> None:
    """Each module's formula, evaluated, equals its own parameters' numel (brute force)."""
    model = create_model(name, device="meta")
    for mod_name, module in model.named_modules():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        f = formula(module)
        assert f.value == own, (mod_name, f.text())
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.RNNBase)) and own:
            assert not f.terms[0].label.startswith(("weight ", "bias")) or "·" in f.terms[0].label, (mod_name, f.explain())


def test_analysis_leaves_the_model_exactly_as_it_was() -> None:
    torch.manual_seed(0)
    model = create_model("resnet20")
    model.train()
    model.layer1[0].bn1.eval()  # a mixed state must survive too
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [m.training for m in model.modules()]
    hooks = [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()]
    global_hooks = (dict(module_hooks._global_forward_hooks), dict(module_hooks._global_forward_pre_hooks))
    first = summary(model, (2, 3, 32, 32), mode="eval")
    second = summary(model, (2, 3, 32, 32), mode="eval")
    assert first.to_dict() == second.to_dict()
    assert [m.training for m in model.modules()] == flags
    assert [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()] == hooks
    assert (module_hooks._global_forward_hooks, module_hooks._global_forward_pre_hooks) == global_hooks
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats and counters untouched
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_big_input_costs_nothing() -> None:
    """VGG16 at 8x3x1024x1024 would need ~30 GB to run for real; on fake tensors it is instant."""
    s = summary(create_model("vgg16", device="meta"), (8, 3, 1024, 1024), receptive_fields=False)
    # Conv MACs scale with the pixel count: (1024/224)^2 x batch 8 for the convolutions.
    small = summary(create_model("vgg16", device="meta"), (1, 3, 1024 // 32 * 32, 1024), receptive_fields=False)
    assert s.total_macs > 8 * small.total_macs * 0.99


def test_rows_add_up_to_totals_at_every_depth() -> None:
    s = summary(create_model("resnet18", device="meta"), get_model_info("resnet18").input_size)
    for depth in (None, 1, 2, 3):
        rows = s.visible_layers(depth)
        params = sum(r.subtree_params if folded else r.params for r, folded in rows)
        macs = sum(r.macs if folded else r.self_macs for r, folded in rows)
        assert params == s.total_params
        assert macs == s.total_macs


class WithConstants(nn.Module):
    """A forward that reads a plain tensor attribute and creates a tensor without device=."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.scale = torch.full((1, 4, 1, 1), 0.5)  # not a parameter or buffer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x) * self.scale
        return y + torch.ones(y.shape[-1])


def test_constants_and_factories_inside_forward() -> None:
    model = WithConstants()
    s = summary(model, (2, 3, 8, 8))
    assert s.layers[0].output_shapes == [tuple(model(torch.randn(2, 3, 8, 8)).shape)]
    assert s.total_params == 3 * 3 * 3 * 4 + 4
    assert s.layer("").self_macs == 0 and s.layer("conv").macs == 8 * 8 * 2 * 3 * 3 * 3 * 4


def test_capture_does_not_import_dynamo() -> None:
    """Importing torch._dynamo costs more than importing torch; a capture must not need it."""
    import subprocess
    import sys

    code = (
        "import sys, netanatomy; m = netanatomy.create_model('resnet18', device='meta'); "
        "netanatomy.summary(m, (1, 3, 64, 64)); print('torch._dynamo' in sys.modules)\n"
        # afterwards torch is as it was: the real module loads, and no reference keeps our mark
        "import torch, torch._dynamo; print(torch._dynamo.__file__ is not None)\n"
        "f = torch._refs.add\n"
        "while f is not None:\n"
        "    assert '__dynamo_disable' not in vars(f) or vars(f)['__dynamo_disable'] is not f\n"
        "    f = getattr(f, '__wrapped__', None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_a_layer_whose_own_hook_replaces_its_output_is_recorded_with_the_output_it_gives() -> None:
    """A forward hook that returns a value replaces the layer's output (PyTorch's documented
    behaviour); the summary shows what the layer gives its successor, as a real forward does."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten())
    model[0].register_forward_hook(lambda m, a, out: out[:, :4])  # keep 4 of the 8 channels
    real = [tuple(model[0](torch.zeros(1, 3, 10, 10)).shape)]
    s = summary(model, (1, 3, 10, 10))
    conv = next(r for r in s.layers if r.name == "0")
    assert [tuple(x) for x in conv.output_shapes] == real == [(1, 4, 8, 8)]
    # A module the forward calls that is not part of the model is not recorded.
    outside = nn.ReLU()

    class Calls(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return outside(self.conv(x))

    names = [r.name for r in summary(Calls(), (1, 3, 10, 10)).layers]
    assert names == ["", "conv"]  # the model itself and its conv; no row for the outside ReLU
