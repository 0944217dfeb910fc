"""Per-layer records and totals: the analyzer's result, independent of how it is printed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from netanatomy.capture.graph import Graph

#: Optimizer state per trainable parameter, in parameters' worth: SGD keeps none, SGD with
#: momentum one velocity buffer, Adam/AdamW two moment estimates (Kingma & Ba 2015, Alg. 1).
OPTIMIZER_STATE_COPIES: dict[str, int] = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}

MAC_CONVENTION = (
    "MACs: multiply-accumulates of conv, linear/matmul and recurrent matrix products (the "
    "convention of torchvision's GFLOPS column); FLOPs = 2 x MACs (torch.utils.flop_counter's "
    "convention). Other ops are listed as not counted."
)


@dataclass(slots=True)
class LayerRecord:
    """One module of the model.

    ``self_*`` figures cover the ops that ran directly in this module's forward (e.g. the
    residual ``+`` of a ResNet block), the plain ones the whole subtree. A table shows the subtree
    figures of a row whose children are hidden and the ``self_*`` ones of a row whose children are
    shown, so that the rows always add up to the totals.
    """

    name: str  # module path; "" is the model itself
    type: str
    depth: int
    calls: int  # how many times forward ran (0: not called, e.g. auxiliary heads in eval mode)
    input_shapes: list[tuple[int, ...]]
    output_shapes: list[tuple[int, ...]]
    params: int  # own parameters, each shared tensor counted once (at its first owner)
    trainable_params: int
    formula: str  # e.g. "3·3·3·64 + 64 = 1,792"
    formula_terms: str  # the same with each term labelled
    formula_note: str
    shared_params: int  # own parameters already counted at another module
    shared_with: list[str]
    subtree_params: int
    subtree_trainable_params: int
    self_macs: int
    macs: int
    self_activation_bytes: int
    activation_bytes: int
    self_saved_bytes: int
    saved_bytes: int
    children: list[str] = field(default_factory=list)
    receptive_field: str = ""

    @property
    def is_leaf(self) -> bool:
        return not self.children


@dataclass(slots=True)
class Totals:
    params: int
    trainable_params: int
    non_trainable_params: int
    param_bytes: int
    trainable_param_bytes: int
    buffer_bytes: int
    macs: int
    flops: int
    input_bytes: int
    forward_activation_bytes: int
    saved_bytes: int
    uncounted_ops: dict[str, int]
    no_arithmetic_ops: dict[str, int]

    def training_memory(self, optimizer: str = "adam") -> dict[str, int]:
        """Bytes for one training step: weights, their gradients, the optimizer's state and the
        activations autograd keeps for backward (the transient forward buffers that are freed
        before backward are not included)."""
        trainable_bytes = self.trainable_param_bytes
        state = OPTIMIZER_STATE_COPIES[optimizer] * trainable_bytes
        parts = {
            "parameters": self.param_bytes,
            "buffers": self.buffer_bytes,
            "gradients": trainable_bytes,
            f"optimizer state ({optimizer})": state,
            "saved activations": self.saved_bytes,
        }
        parts["total"] = sum(parts.values())
        return parts


@dataclass(slots=True)
class Summary:
    """Everything ``netanatomy.summary`` found."""

    model_name: str
    input_sizes: list[tuple[int, ...]]
    input_dtypes: list[str]
    mode: str  # "eval" or "train"
    dtype: str  # parameter dtype used for the memory figures
    optimizer: str
    layers: list[LayerRecord]
    totals: Totals
    graph: Graph = field(repr=False)

    @property
    def total_params(self) -> int:
        return self.totals.params

    @property
    def total_macs(self) -> int:
        return self.totals.macs

    def layer(self, name: str) -> LayerRecord:
        from netanatomy.errors import UnknownNameError, close_names

        for rec in self.layers:
            if rec.name == name:
                return rec
        raise UnknownNameError(f"no layer {name!r}.{close_names(name, [r.name for r in self.layers])}")

    def visible_layers(self, depth: int | None = None) -> list[tuple[LayerRecord, bool]]:
        """Rows to show at ``depth`` (None: all), each with True where its children are hidden
        (the row then stands for its whole subtree)."""
        rows = []
        for rec in self.layers:
            if rec.depth == 0 and rec.children:
                continue  # the model itself is the totals row
            if depth is not None and rec.depth > depth:
                continue
            folded = depth is not None and rec.depth == depth
            rows.append((rec, folded or rec.is_leaf))
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "input_sizes": [list(s) for s in self.input_sizes],
            "input_dtypes": self.input_dtypes,
            "mode": self.mode,
            "dtype": self.dtype,
            "convention": MAC_CONVENTION,
            "layers": [
                {**asdict(r), "input_shapes": [list(s) for s in r.input_shapes],
                 "output_shapes": [list(s) for s in r.output_shapes]}
                for r in self.layers
            ],
            "totals": {**asdict(self.totals), "training_memory": self.totals.training_memory(self.optimizer)},
        }
