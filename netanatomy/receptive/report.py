"""Text for ``netanatomy rf``: the layer table, the working of one layer, a unit's box, probe checks."""

from __future__ import annotations

from fractions import Fraction

from netanatomy.receptive.engine import LayerField, ReceptiveFieldResult, WorkingStep, describe
from netanatomy.receptive.fields import AxisField, FieldInfo, fmt
from netanatomy.receptive.probe import Check

_OP_NAMES = {"convolution": "conv", "max_pool2d_with_indices": "max pool", "max_pool1d_with_indices": "max pool",
             "max_pool3d_with_indices": "max pool", "max_pool2d": "max pool", "avg_pool2d": "avg pool",
             "avg_pool1d": "avg pool", "avg_pool3d": "avg pool", "constant_pad_nd": "pad"}


def _per_axis(values: tuple[object, ...]) -> str:
    texts = [v if isinstance(v, str) else fmt(v) for v in values]  # type: ignore[arg-type]
    return texts[0] if len(set(texts)) == 1 else "x".join(texts)


def _row_key(lf: LayerField) -> tuple[object, ...]:
    f = lf.field
    return (f.known, f.size, f.jump, f.start, f.exact, f.aligned)


def shown_layers(result: ReceptiveFieldResult, depth: int, show_all: bool) -> list[LayerField]:
    """The table's rows: modules at most ``depth`` deep whose field differs from the row above."""
    rows: list[LayerField] = []
    last: tuple[object, ...] | None = None
    for lf in result.layers:
        if lf.depth > depth and lf.name != result.layer:
            continue
        key = _row_key(lf)
        if show_all or key != last or lf.name == result.layer:
            rows.append(lf)
        last = key
    return rows


def render_layers(result: ReceptiveFieldResult, model_name: str, depth: int = 2, show_all: bool = False) -> str:
    """The field of each layer: size r, jump j, effective padding P, centre of unit 0."""
    size = "x".join(map(str, result.input_size))
    header = ("layer", "type", "output", "r", "j", "P", "centre u0")
    rows: list[tuple[str, ...]] = []
    for lf in shown_layers(result, depth, show_all):
        f = lf.field
        out = "x".join(map(str, lf.output_shape[1:]))
        mark = "  <- --layer" if lf.name == result.layer else ""
        if not f.known or not f.size or f.is_global:
            rows.append((lf.name + mark, lf.type, out, f.short(), "", "", ""))
            continue
        local = [af for af in f.axes_fields]
        rows.append((lf.name + mark, lf.type, out, f.short(),
                     _per_axis(tuple("-" if a.is_global else a.jump for a in local)),
                     _per_axis(tuple("-" if a.is_global else -a.start for a in local)),
                     _per_axis(tuple("-" if a.centre is None else a.centre for a in local))))
    widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h) for k, h in enumerate(header)]
    lines = [f"Receptive fields of {model_name} on a {size} input (r: field size, j: jump = effective stride, "
             "P: effective padding, all in input pixels; unit i is centred at u0 + i·j)"]
    for r in (header, *rows):
        lines.append("  ".join(c.ljust(w) if k < 3 else c.rjust(w) for k, (c, w) in enumerate(zip(r, widths))).rstrip())
    lines.append(describe(result.layer, result.field))
    for m in result.misalignments:
        lines.append(f"unaligned: {m}")
    for op, reason in result.unknown_ops.items():
        lines.append(f"unknown after op {op!r}: {reason} (fields after it show '?')")
    return "\n".join(lines)


def _axis_step(step: WorkingStep, a: int, before: AxisField, after: AxisField) -> str:
    r0, j0, p0 = before.size, before.jump, -before.start
    if after.is_global:
        return f"global ({step.note or step.op}): every unit sees the whole input"
    assert r0 is not None and after.size is not None
    params = step.params.get(a)
    if step.kind == "window" and params is not None:
        k, s, p, d = params
        keff = d * (k - 1) + 1
        kd = f"k'={keff}, " if d != 1 else ""
        return (f"{kd}r = {fmt(r0)} + ({keff}-1)·{fmt(j0)} = {fmt(after.size)}   j = {fmt(j0)}·{fmt(s)} = {fmt(after.jump)}"
                f"   P = {fmt(p0)} + {fmt(p)}·{fmt(j0)} = {fmt(-after.start)}")
    if step.kind == "pad" and params is not None:
        return f"pad {params[0]} before, {params[1]} after: P = {fmt(p0)} + {params[0]}·{fmt(j0)} = {fmt(-after.start)}"
    if step.kind == "shift" and params is not None:
        b, t = params
        return f"crop from {b}, step {t}: P = {fmt(p0)} - {b}·{fmt(j0)} = {fmt(-after.start)}   j = {fmt(j0)}·{t} = {fmt(after.jump)}"
    if step.kind == "merge":
        return (f"union of {1 + len(step.other_paths)} paths, the largest comes through here: r = {fmt(after.size)}, "
                f"j = {fmt(after.jump)}, P = {fmt(-after.start)} (other: {', '.join(step.other_paths)})")
    return (f"{step.kind} ({step.note or step.op}): r = {fmt(after.size)}, j = {fmt(after.jump)}, P = {fmt(-after.start)}"
            + ("" if after.exact else "  [approximate: fractional stride]"))


def render_working(result: ReceptiveFieldResult) -> str:
    """The recurrence at each op of the path that sets the field of the chosen layer."""
    lines = [f"Working for {result.layer} (along the path that sets its field; r_0 = 1, j_0 = 1, P_0 = 0):"]
    merges = [s for s in result.working if s.kind == "merge" and s.before == s.after]
    steps = [s for s in result.working if not (s.kind == "merge" and s.before == s.after)]
    for n, step in enumerate(steps, 1):
        where = step.module or "forward"
        op = _OP_NAMES.get(step.op, step.op)
        texts = []
        for a, (b, af) in enumerate(zip(step.before, step.after)):
            if b is None or af is None or b == af:
                continue
            texts.append(_axis_step(step, a, b, af))
        if not texts:
            continue
        geometry = ""
        params = next(iter(step.params.values()), None) if step.kind == "window" else None
        if params is not None:
            ks = _per_axis(tuple(p[0] for p in step.params.values()))
            geometry = f" {ks}/{fmt(params[1])}" + (f" p{params[2]}" if params[2] else "") + (f" d{params[3]}" if params[3] != 1 else "")
        body = texts[0] if len(set(texts)) == 1 else "; ".join(f"axis {a}: {t}" for a, t in enumerate(texts))
        lines.append(f"  {n:>3}. {where} ({op}{geometry}): {body}")
    if merges:
        shown = "; ".join(f"{s.module or 'forward'} ({s.op}) over {', '.join(s.other_paths)}" for s in merges[:3])
        more = f"; ... {len(merges) - 3} more" if len(merges) > 3 else ""
        lines.append(f"  The path above is the largest at each of its {len(merges)} merge(s): {shown}{more}")
    return "\n".join(lines)


def render_unit(result: ReceptiveFieldResult, unit: tuple[int, ...]) -> str:
    """The input box that one output unit sees, clipped to the input and unclipped."""
    boxes = result.unit_box(unit)
    parts = []
    for a, (box, n) in enumerate(zip(boxes, result.input_size[2:])):
        if box is None:
            parts.append(f"axis {a}: the whole input 0..{n - 1}")
            continue
        lo, hi = box
        clo, chi = max(lo, Fraction(0)), min(hi, Fraction(n - 1))
        clip = "" if (clo, chi) == (lo, hi) else f" (theoretical {fmt(lo)}..{fmt(hi)}, clipped by the input)"
        parts.append(f"axis {a}: pixels {fmt(clo)}..{fmt(chi)}{clip}")
    centre = ", ".join("-" if c is None else fmt(c + i * j) for c, i, j in zip(result.field.centre, unit, result.field.jump))
    return f"unit ({','.join(map(str, unit))}) of {result.layer} sees " + "; ".join(parts) + f"; centre ({centre})"


def render_checks(checks: list[Check]) -> str:
    """The engine against the gradient probe, one line per layer."""
    lines = ["Gradient probe (linearised copy, centre unit; boxes are first..last input pixel per axis;"
             " a layer whose field fits in a smaller input is probed there, 'at HxW'):"]
    for c in checks:
        box = lambda b: " x ".join("-" if x is None else f"{x[0]}..{x[1]}" for x in b)  # noqa: E731
        flag = "ok" if c.ok else "MISMATCH"
        where = f" at {'x'.join(map(str, c.input_size[2:]))}" if c.input_size != c.requested_size else ""
        lines.append(f"  {c.layer}{where}: engine {box(c.engine_box)}, probe {box(c.probe_box)}"
                     f"{' (clipped)' if any(c.clipped) else ''}: {flag}")
    bad = sum(not c.ok for c in checks)
    lines.append(f"{len(checks) - bad}/{len(checks)} layers agree")
    return "\n".join(lines)


def verifiable_layers(result: ReceptiveFieldResult, depth: int, show_all: bool) -> list[str]:
    """The shown layers the gradient probe can check: a known, exact, local field on a tensor laid out like the input."""
    rank = len(result.input_size)
    return [lf.name for lf in shown_layers(result, depth, show_all)
            if lf.field.known and lf.field.exact and lf.field.size and len(lf.output_shape) == rank
            and all(u is not None for u in lf.field.units)]


def _number(v: Fraction | int | None) -> int | float | str | None:
    """A field value for JSON: an int when whole, else the exact fraction as text ("3/2")."""
    if v is None:
        return None
    v = Fraction(v)
    return int(v) if v.denominator == 1 else str(v)


def field_payload(f: FieldInfo) -> dict[str, object]:
    """One field for JSON: per input axis, size r (None: global), jump j, effective padding P, centre of unit 0."""
    return {"known": f.known, "global": f.is_global, "exact": f.exact, "aligned": f.aligned,
            "size": [_number(s) for s in f.size], "jump": [_number(j) for j in f.jump],
            "padding": [_number(p) for p in f.padding],
            "centre": [_number(c) for c in f.centre] if f.axes_fields else [], "note": f.note}


def result_payload(result: ReceptiveFieldResult, model_name: str, depth: int = 2, show_all: bool = False) -> dict[str, object]:
    """``netanatomy rf --format json``: the chosen layer's field, the shown layers' fields, the working."""
    return {
        "model": model_name,
        "input_size": list(result.input_size),
        "layer": result.layer,
        "field": field_payload(result.field),
        "layers": [{"name": lf.name, "type": lf.type, "output_shape": list(lf.output_shape), **field_payload(lf.field)}
                   for lf in shown_layers(result, depth, show_all)],
        "working": [{"module": s.module, "op": s.op, "kind": s.kind,
                     "after": [None if a is None else {"size": _number(a.size), "jump": _number(a.jump),
                                                       "padding": _number(-a.start)} for a in s.after]}
                    for s in result.working],
        "misalignments": [str(m) for m in result.misalignments],
        "unknown_ops": dict(result.unknown_ops),
    }


def unit_payload(result: ReceptiveFieldResult, unit: tuple[int, ...]) -> dict[str, object]:
    """The input box (first and last pixel per axis, unclipped; None: the whole axis) that ``unit`` sees."""
    return {"unit": list(unit),
            "box": [None if b is None else [_number(b[0]), _number(b[1])] for b in result.unit_box(unit)]}


def checks_payload(checks: list[Check]) -> list[dict[str, object]]:
    """The gradient probe's verdicts for JSON."""
    return [{"layer": c.layer, "unit": list(c.unit), "ok": c.ok,
             "engine_box": [None if b is None else list(b) for b in c.engine_box],
             "probe_box": [list(b) for b in c.probe_box]} for c in checks]
