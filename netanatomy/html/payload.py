"""The data a model page shows, as one JSON-ready dict built from the analyzer's own results.

``summary`` in the payload is exactly ``Summary.to_dict()``, the document that
``netanatomy summary --format json`` prints, so the page and the CLI cannot disagree; the page
only formats it. Beside it: the receptive field of every layer with the input box of its centre
unit (from the engine, :mod:`netanatomy.receptive.engine`), the graph laid out at each fold depth,
the per-sample slope of the batch-dependent memory figures, and a photograph at the input size.
"""

from __future__ import annotations

import concurrent.futures
import io
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from netanatomy.analysis.models import output_field
from netanatomy.analysis.records import Summary
from netanatomy.analysis.summary import summary as analyse
from netanatomy.html.graphview import build_view
from netanatomy.html.photo import photo_data_uri, png_data_uri

#: Memory figures that grow with the batch; everything else in ``totals`` does not.
BATCH_FIGURES = ("input_bytes", "forward_activation_bytes", "saved_bytes")


def model_payload(
    model: nn.Module,
    input_sizes: Sequence[tuple[int, ...]],
    *,
    input_dtypes: Sequence[torch.dtype] | None = None,
    mode: str = "eval",
    dtype: str | None = None,
    optimizer: str = "adam",
    name: str | None = None,
    spatial: bool = True,
    erf_model: nn.Module | None = None,
    photo: str = "china.jpg",
    materialize: bool = False,
) -> dict[str, Any]:
    """Analyse ``model`` and return everything its page shows.

    Args:
        model: the model (on the meta device is fine; it is not changed).
        input_sizes: input shapes, batch first.
        input_dtypes, mode, dtype, optimizer: as :func:`netanatomy.summary`.
        name: the model's name in the page.
        spatial: whether the model has a spatial input (receptive fields apply).
        erf_model: the same model with real weights on the CPU, for the effective receptive field
            heatmap (Luo et al. 2016); None for no heatmap.
        photo: ``china.jpg`` or ``flower.jpg`` (scikit-learn's sample photographs).
        materialize: run the forward for real (the model holds real weights on the CPU), as
            :func:`netanatomy.summary` does, for forwards that read tensor values.
    """
    s = analyse(model, input_sizes, input_dtypes=input_dtypes, mode=mode, dtype=dtype, optimizer=optimizer,
                model_name=name, receptive_fields=spatial, materialize=materialize)
    # The batch-dependent figures are affine in the batch size N (every activation is N per-sample
    # slices, plus per-channel statistics that do not grow): a second capture at N + 1 gives the
    # slope exactly, and the page recomputes any batch from it.
    bigger = [(n[0] + 1, *n[1:]) for n in s.input_sizes]
    s1 = analyse(model, bigger, input_dtypes=input_dtypes, mode=mode, dtype=dtype, optimizer=optimizer,
                 model_name=name, receptive_fields=False, materialize=materialize)
    data = s.to_dict()
    payload: dict[str, Any] = {
        "name": s.model_name,
        "summary": data,
        "optimizer": s.optimizer,
        "batch": s.input_sizes[0][0],
        "per_sample": {k: data_total(s1, k) - data["totals"][k] for k in BATCH_FIGURES},
        "graph": graph_views(s),
        "rf": receptive_payload(s) if spatial else None,
        "output_rf": output_field(s),  # the compare table's "Output RF": the same function as the CLI's
    }
    if payload["rf"] is not None:
        h, w = payload["rf"]["input"]
        payload["photo"] = photo_data_uri(h, w, photo)
    if erf_model is not None and payload["rf"] is not None:
        payload["erf"] = erf_payload(erf_model, s.input_sizes[0])
    return payload


def data_total(s: Summary, key: str) -> int:
    return int(getattr(s.totals, key))


def graph_views(s: Summary) -> list[dict[str, Any]]:
    """The graph laid out at each distinct fold depth, shallow to full; dot runs in parallel."""
    leaves = {r.name for r in s.layers if r.is_leaf}
    max_depth = max((r.depth for r in s.layers), default=0)
    views = []
    seen: set[tuple[str, ...]] = set()
    for depth in [*range(1, max_depth), None]:
        view = build_view(s.graph, leaves, depth)
        key = tuple(view.nodes)
        if key in seen or (depth is not None and len(view.nodes) <= 3 and max_depth > 2):
            continue  # the same picture as a shallower depth, or too few nodes to say anything
        seen.add(key)
        views.append(view)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        svgs = list(pool.map(lambda v: v.svg(), views))
    return [{"depth": v.depth, "svg": svg, "rows": {k: row for k, (row, _, _) in v.nodes.items()}}
            for v, svg in zip(views, svgs)]


def _f(x: Fraction | int | None) -> float | None:
    return None if x is None else float(x)


def receptive_payload(s: Summary) -> dict[str, Any] | None:
    """Every layer's field and the input box of its centre unit, in input pixels (row, column)."""
    from netanatomy.receptive.engine import clipped_box, default_layer, layer_fields, propagate

    graph = s.graph
    fmap = propagate(graph, 0)
    fields = layer_fields(graph, fmap)
    try:
        default = default_layer(fields).name
    except Exception:  # no local field anywhere (a flat input)
        return None
    refs: dict[str, Any] = {}
    for c in graph.calls:  # a module called twice (a block's shared ReLU): its first call, as the engine
        if c.output_refs:
            refs.setdefault(c.path, c.output_refs[0])
    layers = []
    reach_cache: dict[Any, Any] = {}
    for lf in fields:
        f = lf.field
        entry: dict[str, Any] = {"name": lf.name, "type": lf.type, "order": lf.end_node, "depth": lf.depth,
                                 "known": f.known, "exact": f.exact, "aligned": f.aligned, "global": f.is_global,
                                 "short": f.short()}
        local = f.known and bool(f.size) and not f.is_global and all(s is not None for s in f.size) \
            and all(u is not None for u in f.units)
        if local:
            unit = tuple(int(u) // 2 for u in f.units if u is not None)
            entry.update(size=[_f(v) for v in f.size], jump=[_f(v) for v in f.jump], padding=[_f(v) for v in f.padding],
                         units=list(f.units), unit=list(unit),
                         box=[[_f(a), _f(b)] for a, b in f.box(unit)],  # type: ignore[misc]
                         clipped_box=[[_f(a), _f(b)] for a, b in clipped_box(fmap, refs[lf.name], unit, reach_cache)],  # type: ignore[misc]
                         clipping=[_f(c) for c in f.clipping()])
        layers.append(entry)
    return {"input": list(graph.inputs[0].shape[2:]), "default": default, "layers": layers,
            "misalignments": [str(m) for m in fmap.misalignments], "unknown_ops": dict(fmap.unknown_ops)}


def erf_payload(model: nn.Module, input_size: tuple[int, ...], samples: int = 8) -> dict[str, Any]:
    """The effective receptive field heatmap of the default layer's centre unit, as a PNG data URI."""
    import numpy as np
    from matplotlib import colormaps
    from PIL import Image

    from netanatomy.receptive.erf import effective_receptive_field

    r = effective_receptive_field(model, (1, *input_size[1:]), samples=samples)
    gm = r.grad_map / r.grad_map.max() if r.grad_map.max() > 0 else r.grad_map
    rgb = (colormaps["inferno"](gm)[..., :3] * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", optimize=True)
    return {"layer": r.layer, "unit": list(r.unit), "png": png_data_uri(buf.getvalue()), "samples": r.samples,
            "radius_50": r.radius_50, "radius_95": r.radius_95, "centre": list(r.centre)}
