"""The model registry: every zoo model is found by name, never by introspecting a module.

timm's habit, in two parts per family file:

- **one table** of the family's models, :func:`model_table`: the facts shared by the family
  (paper, default input, dtype) once, then one :class:`ModelCard` per model (a description, the
  torchvision name, another paper where the model has its own);
- **one decorator line** per builder, ``@register_model``, which registers the function under
  its own name.

The table sits in the family file beside its builders, so a new model is one file's change, and
the rows read like the paper's own table. When the families are loaded, every row must have
exactly one builder of its name and every builder a row, or the zoo refuses to load. The CLI, the
analyzer and the tests go through :func:`list_models`, :func:`get_model_info` and
:func:`create_model` only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from netanatomy.errors import UnknownNameError, UserError, close_names

# The family modules; importing one registers its models. Kept as data so the order of
# `netanatomy models` follows the lecture (AlexNet first, the char models last); within a family,
# the order of its table.
_FAMILY_MODULES: tuple[str, ...] = (
    "netanatomy.zoo.alexnet",
    "netanatomy.zoo.vgg",
    "netanatomy.zoo.nin",
    "netanatomy.zoo.googlenet",
    "netanatomy.zoo.resnet",
    "netanatomy.zoo.cifar_resnet",
    "netanatomy.zoo.densenet",
    "netanatomy.zoo.squeezenet",
    "netanatomy.zoo.charrnn",
)


@dataclass(frozen=True)
class Paper:
    """The paper an architecture follows."""

    authors: str  # as cited: "He, Zhang, Ren & Sun", "Szegedy et al."
    year: int
    title: str

    @property
    def citation(self) -> str:
        """Authors and year: ``He, Zhang, Ren & Sun 2016``."""
        return f"{self.authors} {self.year}"

    def __str__(self) -> str:
        return f"{self.citation}, {self.title}"


@dataclass(frozen=True)
class ModelCard:
    """One row of a family's table: what the registry knows of a model besides its builder."""

    #: Short description; where the model deviates from the paper, it says so.
    description: str
    #: The name of the same architecture in torchvision, when there is one.
    torchvision_name: str | None = None
    #: The model's own paper, where it is not the family's (e.g. Wide ResNet among the ResNets).
    paper: Paper | None = None


@dataclass(frozen=True)
class ModelInfo:
    """Everything the registry knows of one model: its table row, its family's facts, its builder."""

    name: str
    family: str
    builder: Callable[..., nn.Module]
    #: Default input, batch dimension included, e.g. (1, 3, 224, 224).
    input_size: tuple[int, ...]
    #: dtype of the default input: float32 for images, int64 for character indices.
    input_dtype: torch.dtype
    #: The paper the architecture follows.
    reference: Paper
    description: str
    torchvision_name: str | None
    #: True when the model's input has spatial axes (the CNNs); False for sequence models.
    spatial: bool

    @property
    def paper(self) -> str:
        """The paper as one line: ``He, Zhang, Ren & Sun 2016, Deep Residual Learning ...``."""
        return str(self.reference)

    def default_input(self, batch_size: int | None = None) -> tuple[int, ...]:
        size = self.input_size
        return size if batch_size is None else (batch_size, *size[1:])


@dataclass(frozen=True)
class _Row:
    family: str
    card: ModelCard
    paper: Paper
    input_size: tuple[int, ...]
    input_dtype: torch.dtype
    spatial: bool


_ROWS: dict[str, _Row] = {}  # filled by model_table, in table order
_BUILDERS: dict[str, Callable[..., nn.Module]] = {}  # filled by @register_model
_MODELS: dict[str, ModelInfo] = {}  # rows joined with builders once every family is loaded

F = TypeVar("F", bound=Callable[..., nn.Module])


def model_table(
    family: str,
    *,
    input_size: tuple[int, ...],
    paper: Paper | None = None,
    input_dtype: torch.dtype = torch.float32,
    spatial: bool = True,
    models: Mapping[str, ModelCard],
) -> Mapping[str, ModelCard]:
    """Declare ``family``'s models: the facts they share, and one card per model name.

    Args:
        family: the family's name (``netanatomy models --family``).
        input_size: the default input of every model of the family, batch first.
        paper: the family's paper; a card may name its own, and must where the family has none.
        input_dtype: the default input's dtype.
        spatial: whether the input has spatial axes.
        models: model name -> its card, in the order ``list_models`` gives them.

    Returns:
        ``models``, so the family file keeps its table under a name.
    """
    for name, card in models.items():
        if name in _ROWS:
            raise ValueError(f"model {name!r} is in two tables")
        cited = card.paper or paper
        if cited is None:
            raise ValueError(f"model {name!r} has no paper: give its card one, or the family one")
        _ROWS[name] = _Row(family, card, cited, tuple(input_size), input_dtype, spatial)
    return models


def register_model(builder: F) -> F:
    """Register ``builder`` under its own function name; its card is the row of that name."""
    name = builder.__name__
    if name in _BUILDERS:
        raise ValueError(f"model {name!r} registered twice")
    _BUILDERS[name] = builder
    return builder


def _load_families() -> None:
    if _MODELS:
        return
    for module in _FAMILY_MODULES:
        importlib.import_module(module)
    # A row without a builder, or a builder without a row, is our bug: refuse to load half a zoo.
    unbuilt = [n for n in _ROWS if n not in _BUILDERS]
    undescribed = [n for n in _BUILDERS if n not in _ROWS]
    if unbuilt or undescribed:
        raise RuntimeError(f"zoo tables and builders disagree: rows without a builder {unbuilt}, "
                           f"builders without a row {undescribed}")
    # Lecture order: by family module, then table order; not the order in which other code
    # happened to import the family files (the char-LM imports charrnn long before the CNNs).
    rank = {module: i for i, module in enumerate(_FAMILY_MODULES)}
    ordered = sorted(_ROWS, key=lambda n: rank.get(_BUILDERS[n].__module__, len(rank)))
    for name in ordered:
        row = _ROWS[name]
        _MODELS[name] = ModelInfo(
            name=name,
            family=row.family,
            builder=_BUILDERS[name],
            input_size=row.input_size,
            input_dtype=row.input_dtype,
            reference=row.paper,
            description=row.card.description,
            torchvision_name=row.card.torchvision_name,
            spatial=row.spatial,
        )


def list_models(family: str | None = None) -> list[str]:
    """Names of the registered models, in lecture order; ``family`` filters (e.g. "resnet")."""
    _load_families()
    return [n for n, info in _MODELS.items() if family is None or info.family == family]


def list_families() -> list[str]:
    """The families, in lecture order."""
    _load_families()
    return list(dict.fromkeys(info.family for info in _MODELS.values()))


def get_model_info(name: str) -> ModelInfo:
    """The registry entry of ``name``; an unknown name raises with the closest names."""
    _load_families()
    try:
        return _MODELS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown model {name!r}.{close_names(name, list(_MODELS))}"
            " Run `netanatomy models` for the list."
        ) from None


def create_model(name: str, *, device: str | torch.device | None = None, **kwargs: Any) -> nn.Module:
    """Build the zoo model ``name``.

    Args:
        name: a registered name (see :func:`list_models`).
        device: where to build it; ``"meta"`` builds the architecture without allocating
            (or initialising) any weight, which is all the analyzer needs.
        **kwargs: passed to the family's builder (e.g. ``num_classes=10``, ``in_channels=1``).
    """
    info = get_model_info(name)
    try:
        if device is None:
            return info.builder(**kwargs)
        from netanatomy.capture.meta_init import skip_init_on_meta

        # Weight initialisation on the meta device has nothing to write (see meta_init).
        with torch.device(device), skip_init_on_meta():
            return info.builder(**kwargs)
    except TypeError as exc:
        # A wrong keyword is the user's mistake; anything else is ours and keeps its traceback.
        if "unexpected keyword argument" in str(exc) or "got an unexpected" in str(exc):
            raise UserError(f"model {name!r}: {exc}") from None
        raise
