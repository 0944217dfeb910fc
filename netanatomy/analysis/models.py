"""Analysing models named on the command line: what ``summary``, ``compare`` and ``models`` compute.

The commands in :mod:`netanatomy.cli.summary` only parse their arguments and print; the model
resolution, the batch-size override and the zoo overview live here, so that the Python API and
other front ends (the HTML report, ``explain``) compute exactly the same figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netanatomy.analysis.records import Summary
from netanatomy.errors import UserError, close_names

if TYPE_CHECKING:  # torch stays unimported until a model is analysed (netanatomy --help)
    import torch

    from netanatomy.analysis.loading import ResolvedModel


@dataclass
class PreparedModel:
    """A MODEL from the command line, built and with the inputs it will be analysed on."""

    resolved: ResolvedModel
    input_sizes: list[tuple[int, ...]]
    input_dtypes: list[torch.dtype]
    #: the builder's keyword arguments, parsed from ``-a NAME=VALUE``.
    resolved_kwargs: dict[str, Any]


def prepare_model(
    model: str,
    input_size: str | None = None,
    *,
    batch_size: int | None = None,
    kwargs: list[str] | None = None,
    seq_len: int | None = None,
    materialize: bool = False,
    announce: Callable[[tuple[int, int] | None], None] | None = None,
) -> PreparedModel:
    """Resolve ``model`` (zoo name, spec, ``torchvision:NAME``, ``transformers:CLASS``,
    ``file.py:factory``) and settle the inputs it runs on: what ``summary``, ``compare``,
    ``report`` and ``explain`` share.

    Args:
        model: the MODEL text (see :mod:`netanatomy.analysis.loading`).
        input_size: ``NxCxHxW[:DTYPE]`` text, several inputs separated by commas, ``scalar:DTYPE``
            for a 0-d input (default: the model's own).
        batch_size: replaces the batch dimension of every input.
        kwargs: ``NAME=VALUE`` items for the model builder (literals only).
        seq_len: tokens of the default input of a ``transformers:CLASS`` model.
        materialize: build on the CPU with real weights (for models that read tensor values or
            cannot be built on meta); ``announce`` is given :func:`materialize_bytes` before
            anything real is allocated.
    """
    from netanatomy.analysis.loading import parse_inputs, parse_kwargs, resolve_model

    given = parse_inputs(input_size) if input_size else None
    if seq_len is not None and seq_len <= 0:
        raise UserError(f"--seq-len must be positive, got {seq_len}")
    if seq_len is not None and not model.startswith("transformers:"):
        raise UserError("--seq-len sets the token ids of a transformers:CLASS model; for this model give --input")
    builder_kwargs = parse_kwargs(kwargs)
    sizes_given = [shape for shape, _ in given] if given else None
    if materialize and announce is not None:
        announce(materialize_bytes(model, sizes_given, builder_kwargs, seq_len))
    resolved = resolve_model(model, sizes_given, builder_kwargs, device="cpu" if materialize else "meta", seq_len=seq_len)
    sizes = list(resolved.input_sizes)
    if batch_size is not None:
        if batch_size <= 0:
            raise UserError(f"--batch-size must be positive, got {batch_size}")
        sizes = [(batch_size, *s[1:]) if s else s for s in sizes]
    # An explicit :DTYPE wins; otherwise the model's own input dtype (its last one repeated).
    defaults = resolved.input_dtypes
    dtypes = [(given[i][1] if given and i < len(given) and given[i][1] is not None else None)
              or defaults[min(i, len(defaults) - 1)] for i in range(len(sizes))]
    return PreparedModel(resolved, sizes, dtypes, builder_kwargs)


def analyse_model(
    model: str,
    input_size: str | None = None,
    *,
    batch_size: int | None = None,
    kwargs: list[str] | None = None,
    mode: str = "eval",
    dtype: str | None = None,
    optimizer: str = "adam",
    seq_len: int | None = None,
    materialize: bool = False,
    announce: Callable[[tuple[int, int] | None], None] | None = None,
) -> Summary:
    """:func:`prepare_model`, then :func:`netanatomy.analysis.summary.summary` on meta tensors
    (``mode``, ``dtype``, ``optimizer`` as there; a real forward with ``materialize``)."""
    from netanatomy.analysis.summary import summary

    p = prepare_model(model, input_size, batch_size=batch_size, kwargs=kwargs, seq_len=seq_len,
                      materialize=materialize, announce=announce)
    return summary(p.resolved.model, p.input_sizes, input_dtypes=p.input_dtypes, mode=mode, dtype=dtype,
                   optimizer=optimizer, model_name=p.resolved.name, receptive_fields=p.resolved.spatial,
                   materialize=materialize)


def materialize_bytes(model: str, sizes: Any, kwargs: dict[str, Any], seq_len: int | None) -> tuple[int, int] | None:
    """The bytes ``--materialize`` will allocate for ``model``'s parameters and buffers and for its
    inputs (known from a meta build, before anything real is allocated); None when it cannot be
    built on meta, so the size is unknown until built."""
    from netanatomy.analysis.loading import resolve_model

    try:
        meta = resolve_model(model, sizes, kwargs, device="meta", seq_len=seq_len)
    except UserError:
        return None
    weights = sum(t.numel() * t.element_size() for t in [*meta.model.parameters(), *meta.model.buffers()])
    inputs = 0
    for shape, dt in zip(meta.input_sizes, meta.input_dtypes):
        n = 1
        for d in shape:
            n *= d
        inputs += n * dt.itemsize
    return weights, inputs


def output_field(s: Summary) -> str | None:
    """The receptive field of the trunk's output: that of the last top-level layer with a local
    field (ResNet-50's ``layer4``: 427), or None.

    Top-level layers, not the last row: a module called several times (the one ReLU of a
    torchvision Bottleneck, applied after bn1, bn2 and the add) has one row, whose field is that
    of its first call (ResNet-50's ``layer4.2.relu`` reads 363, the field after ``layer4.2.bn1``).
    """
    local = [rec for rec in s.layers if rec.receptive_field and rec.receptive_field != "global"]
    top = min((rec.depth for rec in local), default=None)
    for rec in reversed(local):
        if rec.depth == top:
            return str(rec.receptive_field)
    return None


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model at its default input: what ``netanatomy models`` lists."""

    name: str
    family: str
    params: int
    macs: int
    input: str
    paper: str
    description: str


def zoo_overview(family: str | None = None) -> list[ZooEntry]:
    """Every zoo model (of ``family``), analysed at its default input on the meta device."""
    from netanatomy.analysis.summary import summary
    from netanatomy.zoo.registry import create_model, get_model_info, list_models

    names = list_models(family)
    if not names:
        families = sorted({get_model_info(n).family for n in list_models()})
        raise UserError(f"no family {family!r}.{close_names(family or '', families)} Families: {', '.join(families)}")
    entries = []
    for name in names:
        info = get_model_info(name)
        s = summary(create_model(name, device="meta"), info.input_size, input_dtypes=[info.input_dtype],
                    receptive_fields=False, model_name=name)
        entries.append(ZooEntry(name, info.family, s.total_params, s.total_macs, "x".join(map(str, info.input_size)),
                                info.paper, info.description))
    return entries


def resolve_spatial_model(model: str, input_size: str | None = None, kwargs: list[str] | None = None,
                          device: str = "meta") -> tuple[Any, tuple[int, ...], str]:
    """Model, input size and display name of a convolutional MODEL (what ``rf`` and ``erf`` analyse).

    A model without a spatial floating-point input (a char-RNN, an MLP) has no receptive field:
    that is the user's error, with a way out.
    """
    from netanatomy.analysis.loading import parse_input_size, parse_kwargs, resolve_model

    sizes = parse_input_size(input_size) if input_size else None
    resolved = resolve_model(model, sizes, parse_kwargs(kwargs), device=device)
    size = tuple(resolved.input_sizes[0])
    if not resolved.spatial or len(size) < 3 or not resolved.input_dtypes[0].is_floating_point:
        raise UserError(f"{resolved.name} has no spatial input (its input is {'x'.join(map(str, size))}, "
                        f"{str(resolved.input_dtypes[0]).replace('torch.', '')}): receptive fields apply to convolutional "
                        "models; try a CNN such as resnet18 or a spec such as conv3-64*3")
    return resolved.model, size, resolved.name
