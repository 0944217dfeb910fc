"""The totals block under a summary table, as (label, value) lines shared by every text format."""

from __future__ import annotations

from netanatomy.analysis.records import MAC_CONVENTION, Summary
from netanatomy.report import units


def total_lines(s: Summary) -> list[tuple[str, str]]:
    t = s.totals
    lines = [
        ("Parameters", f"{units.count(t.params)} ({units.count(t.trainable_params)} trainable, "
                       f"{units.count(t.non_trainable_params)} frozen)"),
        ("MACs", f"{units.count(t.macs)} ({units.si(t.macs)})"),
        ("FLOPs", f"{units.count(t.flops)} ({units.si(t.flops)}) = 2 x MACs"),
        *_per_token(s),
        ("Convention", MAC_CONVENTION),
        ("Not counted", ", ".join(f"{op} x{n}" for op, n in t.uncounted_ops.items()) or "none"),
        ("Input", f"{', '.join(f'{units.shape([x])} {d}' for x, d in zip(s.input_sizes, s.input_dtypes))} "
                  f"= {units.nbytes(t.input_bytes)}"),
        ("Parameter memory", f"{units.nbytes(t.param_bytes)} ({s.dtype}); buffers {units.nbytes(t.buffer_bytes)}"),
        ("Forward activations", f"{units.nbytes(t.forward_activation_bytes)} (every tensor the forward pass allocates)"),
        ("Saved for backward", f"{units.nbytes(t.saved_bytes)} (what autograd keeps, {s.mode} mode)"),
    ]
    mem = t.training_memory(s.optimizer)
    parts = ", ".join(f"{k} {units.nbytes(v)}" for k, v in mem.items() if k != "total")
    lines.append((f"Training memory ({s.optimizer})", f"{units.nbytes(mem['total'])} = {parts}"))
    return lines


def _per_token(s: Summary) -> list[tuple[str, str]]:
    """For a character/token model (integer input), MACs per input position: the cost of one step."""
    if not s.input_dtypes or not all(d.startswith(("int", "uint")) for d in s.input_dtypes):
        return []
    positions = 1
    for d in s.input_sizes[0]:
        positions *= d
    unit = "token" if s.model_name.startswith("transformers:") else "character"
    return [(f"MACs per {unit}", f"{units.count(s.totals.macs // positions)} ({units.si(s.totals.macs / positions)})")]
