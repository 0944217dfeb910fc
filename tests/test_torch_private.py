"""Each private PyTorch API listed in ``netanatomy.capture.torch_private``, pinned to the behaviour
the package relies on, so a torch upgrade that changes one fails here (one test per item)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import torch
from torch import nn

from netanatomy.capture import torch_private as tp


def test_torch_dispatch_mode_sees_every_aten_op_below_autograd() -> None:
    seen: list[Any] = []

    class Record(tp.TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
            seen.append(func)
            return func(*args, **(kwargs or {}))

    x = torch.zeros(2, 3, device="meta", requires_grad=True)
    with Record():
        y = torch.nn.functional.relu(x) + 1  # a functional call and an operator
        y.view(6)
    aten = torch.ops.aten
    ops = [f for f in seen if f.namespace == "aten" and f is not aten.detach.default]  # autograd's detach
    assert ops == [aten.relu.default, aten.add.Tensor, aten.view.default]
    assert y.device.type == "meta" and y.requires_grad  # autograd still records above the mode


def test_pytree_flattens_nested_containers_in_order_and_maps_leaves() -> None:
    a, b, c = torch.zeros(1), torch.zeros(2), torch.zeros(3)
    flat, _ = tp.tree_flatten((a, [b, {"k": c}], 4))
    assert len(flat) == 4 and flat[0] is a and flat[1] is b and flat[2] is c and flat[3] == 4
    mapped = tp.tree_map(lambda t: t.numel() if isinstance(t, torch.Tensor) else t, (a, [b, {"k": c}], 4))
    assert mapped == (1, [2, {"k": 3}], 4)


def test_storage_key_tells_meta_storages_apart_and_follows_views() -> None:
    x, y = torch.empty(4, 4, device="meta"), torch.empty(4, 4, device="meta")
    # data_ptr cannot be used: it is 0 for every meta storage
    assert x.untyped_storage().data_ptr() == y.untyped_storage().data_ptr() == 0
    assert tp.storage_key(x) != tp.storage_key(y)
    assert tp.storage_key(x) == tp.storage_key(x.view(16)) == tp.storage_key(x[1:])
    assert tp.storage_key(x) == tp.storage_key(x)  # stable across new UntypedStorage wrappers
    x.add_(1)
    assert tp.storage_key(x) == tp.storage_key(x.t())


def test_flop_registry_calling_convention_on_hand_derived_counts() -> None:
    aten = torch.ops.aten
    # conv 3->8, 3x3, no padding, on 1x3x8x8: 6x6 outputs, each 3·3·3 MACs per output channel
    x, w = torch.empty(1, 3, 8, 8, device="meta"), torch.empty(8, 3, 3, 3, device="meta")
    args = (x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
    out = aten.convolution.default(*args)
    assert tp.flop_formula_macs(aten.convolution, args, {}, out) == 6 * 6 * 8 * 3 * 3 * 3
    a, b = torch.empty(2, 3, device="meta"), torch.empty(3, 5, device="meta")
    assert tp.flop_formula_macs(aten.mm, (a, b), {}, aten.mm.default(a, b)) == 2 * 3 * 5
    bias = torch.empty(5, device="meta")
    assert tp.flop_formula_macs(aten.addmm, (bias, a, b), {}, aten.addmm.default(bias, a, b)) == 2 * 3 * 5
    p, q = torch.empty(4, 2, 3, device="meta"), torch.empty(4, 3, 5, device="meta")
    assert tp.flop_formula_macs(aten.bmm, (p, q), {}, aten.bmm.default(p, q)) == 4 * 2 * 3 * 5
    assert tp.flop_formula_macs(aten.relu, (a,), {}, a) is None  # no formula: not counted, never 0


def test_op_overload_attributes() -> None:
    aten = torch.ops.aten
    assert isinstance(aten.relu.default, tp.OpOverload)
    assert aten.relu.default.overloadpacket is aten.relu and aten.relu.__name__ == "relu"
    assert aten.relu.default.namespace == "aten" and torch.ops.prim.device.default.namespace == "prim"
    assert aten.view.default.is_view and aten.transpose.int.is_view
    assert not aten.add.Tensor.is_view and not aten.relu_.default.is_view


def test_local_scalar_dense_is_the_op_behind_item() -> None:
    seen: list[Any] = []

    class Record(tp.TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
            seen.append(func)
            return func(*args, **(kwargs or {}))

    t = torch.tensor([3.0])
    with Record():
        assert t.item() == 3.0
        assert bool(t)
    assert seen.count(tp.LOCAL_SCALAR_DENSE) == 2


def test_module_tensor_tables_are_what_forward_reads() -> None:
    lin, bn = nn.Linear(3, 2), nn.BatchNorm1d(2)
    params, buffers = tp.module_tensor_tables(lin)
    assert set(params) == {"weight", "bias"} and params["weight"] is lin.weight and buffers == {}
    assert set(tp.module_tensor_tables(bn)[1]) == {"running_mean", "running_var", "num_batches_tracked"}
    originals = dict(params)
    params.update(weight=torch.empty(2, 3, device="meta"), bias=torch.empty(2, device="meta"))
    try:  # plain tensors, which setattr would refuse
        assert lin.weight is params["weight"] and lin.weight.is_meta
        assert lin(torch.empty(4, 3, device="meta")).shape == (4, 2)
    finally:
        params.update(originals)
    assert lin.weight is originals["weight"]


def test_private_base_classes_of_conv_and_norm_layers() -> None:
    for conv in (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d):
        assert issubclass(conv, tp.ConvNd)
    for norm in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.InstanceNorm2d, nn.SyncBatchNorm):
        assert issubclass(norm, tp.NormBase)
    assert not issubclass(nn.LayerNorm, tp.NormBase) and not issubclass(nn.GroupNorm, tp.NormBase)
    conv = nn.Conv2d(4, 8, 3, groups=2)  # the fields the formula reads
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.groups) == (4, 8, (3, 3), 2)


# --- the torch._dynamo stand-in -------------------------------------------------------------

def _run(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_disable_dynamo_behaves_as_the_stand_in_relies_on() -> None:
    """The check that runs at first use passes on the supported torch versions."""
    assert _run("from netanatomy.capture import torch_private as tp; print(tp.stand_in_problem())") == ["None"]


@pytest.mark.parametrize("changed", [
    "lambda fn=None, recursive=True: fn",  # never asks torch._dynamo
    # asks on every call instead of caching on the function
    "lambda fn=None, recursive=True: lambda *a: __import__('torch._dynamo').compiler and "
    "sys.modules['torch._dynamo'].disable(fn, recursive)(*a)",
    # asks for something else of torch._dynamo as well
    "lambda fn=None, recursive=True: lambda *a: (sys.modules['torch._dynamo'].config, fn(*a))[1]",
], ids=["no-import", "no-cache", "other-attribute"])
def test_a_changed_disable_dynamo_is_detected(changed: str) -> None:
    code = (
        "import sys, torch\n"
        f"torch._disable_dynamo = {changed}\n"
        "from netanatomy.capture import torch_private as tp; print(tp.stand_in_problem() is not None)\n"
    )
    assert _run(code) == ["True"]


_SUMMARY = (
    "import sys, netanatomy\n"
    "from netanatomy.capture import torch_private as tp\n"
    "{prelude}\n"
    "m = netanatomy.create_model('resnet18', device='meta')\n"
    "s = netanatomy.summary(m, (1, 3, 64, 64), mode='train')\n"
    "print(s.totals.params, s.totals.macs, s.totals.forward_activation_bytes, s.totals.saved_bytes, 'torch._dynamo' in sys.modules)\n"
)


@pytest.mark.slow
def test_capture_falls_back_to_the_real_dynamo_with_the_same_result() -> None:
    fast = _run(_SUMMARY.format(prelude=""))
    slow = _run(_SUMMARY.format(prelude="tp._problem.append('pretend torch changed')"))
    assert fast[-1] == "False" and slow[-1] == "True"  # the stand-in was used, then the real module
    assert fast[:-1] == slow[:-1]


@pytest.mark.slow
def test_other_dynamo_attributes_during_a_capture_load_the_real_module() -> None:
    code = (
        "import importlib, sys, torch\nfrom torch import nn\nimport netanatomy\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n        super().__init__(); self.c = nn.Conv2d(3, 8, 3)\n"
        "    def forward(self, x):\n"
        "        flag = torch._dynamo.config.suppress_errors  # any attribute but disable\n"
        "        importlib.import_module('torch._dynamo.utils')  # a submodule\n"
        "        return torch.relu(self.c(x)).clamp(-1, 1)\n"
        "s = netanatomy.summary(M(), (1, 3, 8, 8))\n"
        "print(s.totals.macs, len(s.graph.nodes), type(torch._dynamo.disable).__name__)\n"
        "import torch._dynamo.utils as u; print(u is sys.modules['torch._dynamo.utils'] is torch._dynamo.utils)\n"
    )
    # conv 3->8, 3x3 on 8x8: 6·6·8·27 MACs; three ops (conv, relu, clamp), the import records none
    assert _run(code) == [str(6 * 6 * 8 * 27), "3", "function", "True"]


def test_distribution_validation_default_is_the_private_class_attribute() -> None:
    """``Distribution._validate_args`` is the default that ``set_default_validate_args`` sets: the
    capture reads it to restore it, and a Normal with a negative scale is refused only when on."""
    import torch.distributions as dist

    from netanatomy.capture.torch_private import distribution_validation_off

    before = dist.Distribution._validate_args
    with distribution_validation_off():
        assert dist.Distribution._validate_args is False
        dist.Normal(torch.zeros(1), -torch.ones(1))  # not checked
    assert dist.Distribution._validate_args is before
    dist.Distribution.set_default_validate_args(True)
    try:
        with pytest.raises(ValueError):
            dist.Normal(torch.zeros(1), -torch.ones(1))
    finally:
        dist.Distribution.set_default_validate_args(before)


def test_op_schema_alias_annotations_tell_fresh_in_place_and_view_ops_apart() -> None:
    """The memo keys on these: ``add`` writes nothing and returns fresh memory; ``add_`` writes
    its first argument and returns it (same alias set); ``view`` returns an alias and is a view."""
    args, writes, returns, aliased = tp.op_alias_info(torch.ops.aten.add.Tensor)
    assert writes == [] and aliased == [] and len(returns) == 1
    args, writes, returns, aliased = tp.op_alias_info(torch.ops.aten.add_.Tensor)
    assert len(writes) == 1 and writes[0] is args[0] and len(aliased) == 1
    assert aliased[0].alias_info.before_set == writes[0].alias_info.before_set
    args, writes, returns, aliased = tp.op_alias_info(torch.ops.aten.view.default)
    assert writes == [] and len(aliased) == 1 and torch.ops.aten.view.default.is_view
    assert not torch.ops.aten.add_.Tensor.is_view


def test_no_dispatch_modes_hides_ops_from_a_mode_and_autocast_state_is_read() -> None:
    seen: list[str] = []

    class Watch(tp.TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            seen.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    leaf = torch.zeros((), device="meta", requires_grad=True)
    with Watch():
        with tp.no_dispatch_modes():
            hidden = torch.empty_strided((2, 3), (3, 1), device="meta").copy_(leaf)
        torch.empty((2,), device="meta")
    assert seen == ["empty"]
    # What the replay relies on: the copy from a 0-d leaf makes a non-leaf that requires grad.
    assert hidden.requires_grad and not hidden.is_leaf and hidden.stride() == (3, 1)
    assert tp.any_autocast_enabled() is False
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert tp.any_autocast_enabled() is True


def test_outer_modes_active_sees_dispatch_and_function_modes() -> None:
    from torch.overrides import TorchFunctionMode

    assert tp.outer_modes_active() is False
    with tp.TorchDispatchMode():
        assert tp.outer_modes_active() is True
    with TorchFunctionMode():
        assert tp.outer_modes_active() is True
    with torch.device("meta"):  # a device context is a function mode too
        assert tp.outer_modes_active() is True
    assert tp.outer_modes_active() is False
