"""The capture's fast paths give exactly what PyTorch's own machinery gives.

Oracles: the real ``torch.fx.experimental.symbolic_shapes`` functions (for the sympy-free
stand-in); a fresh process's ``sys.modules`` (for what a capture imports).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import torch.fx.experimental.symbolic_shapes as real_shapes

from netanatomy.capture.light_shapes import SHAPE_FUNCTIONS

_VALUES: list[Any] = [True, False, 0, 1, 7, -2, 1.5, (1, 2), [1, 2], None, "x"]


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("value", fn(*args))
    except Exception as exc:
        return ("raises", type(exc))


@pytest.mark.filterwarnings("ignore:guard_size_oblivious will be removed:FutureWarning")
@pytest.mark.parametrize("name", sorted(SHAPE_FUNCTIONS))
def test_stand_in_functions_answer_as_the_real_ones(name: str) -> None:
    ours, theirs = SHAPE_FUNCTIONS[name], getattr(real_shapes, name)
    arities = (2,) if name == "sym_eq" else (1, 2, 3) if name in ("sym_and", "sym_or") else (1,)
    for n in arities:
        for args in _argument_tuples(n):
            assert _outcome(ours, *args) == _outcome(theirs, *args), (name, args)


def _argument_tuples(n: int) -> list[tuple[Any, ...]]:
    if n == 1:
        return [(v,) for v in _VALUES]
    plain = [True, False, 3, 4, (1, 2), (1, 2, 3), [1, 3]]
    return [(a, b) if n == 2 else (a, b, True) for a in plain for b in plain]


def test_a_capture_does_not_import_sympy_and_leaves_torch_as_it_was() -> None:
    code = (
        "import sys, torch\n"
        "from netanatomy.zoo import create_model\n"
        "from netanatomy.analysis.summary import summary\n"
        "s = summary(create_model('resnet18'), (1, 3, 64, 64))\n"
        "summary(torch.nn.LSTM(8, 16, 2), (5, 2, 8), mode='train')\n"
        "assert 'sympy' not in sys.modules, 'sympy imported'\n"
        "assert 'torch.fx.experimental.symbolic_shapes' not in sys.modules\n"
        "from torch.fx.experimental.symbolic_shapes import ShapeEnv, expect_true\n"
        "import sympy.core\n"
        "assert type(sys.modules['sympy']).__name__ == 'module' and ShapeEnv.__module__.startswith('torch')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


_MEMORY_PROBE = r"""
import gc, sys, torch
from torch import nn
import netanatomy.capture.tracer as tracer
from netanatomy.analysis.summary import summary
from netanatomy.capture.graph import OpNode

class Dense(nn.Module):  # functional cats and in-place ReLUs between replayed layers, as DenseNet
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(4 + 2 * i, 2, 3, padding=1) for i in range(3)])
        self.norm = nn.BatchNorm2d(10)
    def forward(self, x):
        feats = [x]
        for conv in self.convs:
            feats.append(torch.relu_(conv(torch.cat(feats, 1))))
        return torch.relu_(self.norm(torch.cat(feats, 1)))  # ReLU saves its own output

was = [gc.isenabled()]
model = Dense()
for mode in ("eval", "train", "eval"):
    s = summary(model, (1, 4, 8, 8), mode=mode)
    was.append(gc.isenabled())
    del s
gc.collect()
alive = [type(o).__name__ for o in gc.get_objects() if type(o) in (OpNode, tracer._Recorder)
         or isinstance(o, torch.Tensor) and o.device.type == "meta"]
gc.disable()
summary(model, (1, 4, 8, 8))
print(was, alive, gc.isenabled(), tracer._paused)
"""


def test_a_finished_capture_leaves_nothing_alive_and_the_collector_as_it_was() -> None:
    """Oracle: Python's own list of live objects (no meta tensor, node or recorder of a capture
    outlives it). Cycles through autograd's C++ nodes are invisible to the collector: a ReLU's node
    keeps what the pack hook of ``saved_tensors_hooks`` returned for its own output (the tensor
    itself, before), and a hook that held the recorder kept the whole capture. A fresh process:
    the first analysis may run a full collection (gc_paused)."""
    out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[True,", "True,", "True,", "True]", "[]", "False", "[0,", "True]"], out
