"""The model registry: every zoo model is found by name, never by introspecting a module.

Families register their builders with :func:`register_model`; the CLI, the analyzer and the
tests go through :func:`list_models` / :func:`create_model` only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn

from netanatomy.errors import UnknownNameError, UserError, close_names

# The family modules; importing one registers its models. Kept as data so the order of
# `netanatomy models` follows the lecture (AlexNet first, the char models last).
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
class ModelInfo:
    """What the registry knows of one model besides its builder."""

    name: str
    family: str
    builder: Callable[..., nn.Module]
    #: Default input, batch dimension included, e.g. (1, 3, 224, 224).
    input_size: tuple[int, ...]
    #: dtype of the default input: float32 for images, int64 for character indices.
    input_dtype: torch.dtype = torch.float32
    #: The paper the architecture follows (authors, year, title).
    paper: str = ""
    #: Short description; where the model deviates from the paper, it says so.
    description: str = ""
    #: The name of the same architecture in torchvision, when there is one.
    torchvision_name: str | None = None
    #: Keyword arguments that ``create_model`` passes to the builder by default.
    defaults: dict[str, Any] = field(default_factory=dict)
    #: True when the model's input has spatial axes (the CNNs); False for sequence models.
    spatial: bool = True

    def default_input(self, batch_size: int | None = None) -> tuple[int, ...]:
        size = self.input_size
        return size if batch_size is None else (batch_size, *size[1:])


_REGISTRY: dict[str, ModelInfo] = {}
_loaded = False

F = TypeVar("F", bound=Callable[..., nn.Module])


def register_model(
    name: str,
    *,
    family: str,
    input_size: tuple[int, ...],
    input_dtype: torch.dtype = torch.float32,
    paper: str = "",
    description: str = "",
    torchvision_name: str | None = None,
    spatial: bool = True,
    **defaults: Any,
) -> Callable[[F], F]:
    """Register ``builder`` under ``name``; extra keywords become the builder's defaults."""

    def decorate(builder: F) -> F:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelInfo(
            name=name,
            family=family,
            builder=builder,
            input_size=input_size,
            input_dtype=input_dtype,
            paper=paper,
            description=description or _first_line(builder.__doc__),
            torchvision_name=torchvision_name,
            defaults=dict(defaults),
            spatial=spatial,
        )
        return builder

    return decorate


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


def _load_families() -> None:
    global _loaded
    if not _loaded:
        for module in _FAMILY_MODULES:
            importlib.import_module(module)
        _loaded = True


def list_models(family: str | None = None) -> list[str]:
    """Names of the registered models, in lecture order; ``family`` filters (e.g. "resnet")."""
    _load_families()
    return [n for n, info in _REGISTRY.items() if family is None or info.family == family]


def get_model_info(name: str) -> ModelInfo:
    """The registry entry of ``name``; an unknown name raises with the closest names."""
    _load_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown model {name!r}.{close_names(name, list(_REGISTRY))}"
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
    args = {**info.defaults, **kwargs}
    try:
        if device is None:
            return info.builder(**args)
        from netanatomy.capture.meta_init import skip_init_on_meta

        # Weight initialisation on the meta device has nothing to write (see meta_init).
        with torch.device(device), skip_init_on_meta():
            return info.builder(**args)
    except TypeError as exc:
        # A wrong keyword is the user's mistake; anything else is ours and keeps its traceback.
        if "unexpected keyword argument" in str(exc) or "got an unexpected" in str(exc):
            raise UserError(f"model {name!r}: {exc}") from None
        raise
