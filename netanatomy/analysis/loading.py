"""Turn the MODEL argument of the CLI into a module and its default input.

MODEL is one of:

- a zoo name (``vgg16``; see ``netanatomy models``);
- ``torchvision:NAME`` or ``timm:NAME`` when those packages are installed (built without weights);
- ``path/to/file.py:factory`` or ``package.module:factory``: **this imports and runs the user's
  code**, exactly as ``python file.py`` would — only analyse files you trust;
- a one-line spec of a sequential stack (see :mod:`netanatomy.analysis.spec`).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from netanatomy.analysis.spec import build_from_spec, looks_like_spec
from netanatomy.capture.limits import check_input_sizes
from netanatomy.errors import UserError

DEFAULT_IMAGE_INPUT = (1, 3, 224, 224)


@dataclass
class ResolvedModel:
    model: nn.Module
    name: str
    input_sizes: list[tuple[int, ...]]
    input_dtypes: list[torch.dtype]
    spatial: bool


def parse_input_size(text: str) -> list[tuple[int, ...]]:
    """``"1x3x224x224"`` -> ``[(1, 3, 224, 224)]``; several inputs separated by commas."""
    sizes = []
    for part in text.split(","):
        # at most 15 digits a dimension: int() of a 5,000-digit string would raise a ValueError
        if not re.fullmatch(r"\s*\d{1,15}(x\d{1,15})*\s*", part):
            raise UserError(f"malformed input size {text[:80]!r}: write it as NxCxHxW, e.g. 1x3x224x224")
        sizes.append(tuple(int(x) for x in part.strip().split("x")))
    check_input_sizes(sizes)
    return sizes


def parse_kwargs(items: list[str] | None) -> dict[str, Any]:
    """``["num_classes=10", "aux_logits=true"]`` -> keyword arguments (literals only, no eval)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise UserError(f"malformed model argument {item!r}: write it as name=value, e.g. num_classes=10")
        out[key] = _literal(value)
    return out


def _literal(value: str) -> Any:
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def resolve_model(
    text: str,
    input_sizes: list[tuple[int, ...]] | None = None,
    kwargs: dict[str, Any] | None = None,
    device: str | torch.device = "meta",
) -> ResolvedModel:
    """Build the model that ``text`` names (on ``device``; "meta" allocates no weights)."""
    from netanatomy.zoo.registry import _REGISTRY, get_model_info, list_models

    kwargs = kwargs or {}
    names = list_models()
    if ":" in text and text not in _REGISTRY:
        return _from_factory(text, input_sizes, kwargs, device)
    if text in names:
        info = get_model_info(text)
        model = _build(lambda: info.builder(**{**info.defaults, **kwargs}), text, device)
        sizes = input_sizes or [info.input_size]
        return ResolvedModel(model, text, sizes, [info.input_dtype] * len(sizes), info.spatial)
    if looks_like_spec(text):
        sizes = input_sizes or [DEFAULT_IMAGE_INPUT]
        model = _build(lambda: build_from_spec(text, sizes[0]), text, device)
        return ResolvedModel(model, text, sizes, [torch.float32], True)
    get_model_info(text)  # raises with close names
    raise AssertionError("unreachable")


def _build(make: Any, name: str, device: str | torch.device) -> nn.Module:
    from netanatomy.capture.meta_init import skip_init_on_meta

    with torch.device(device), skip_init_on_meta():
        try:
            model = make()
        except UserError:
            raise
        except TypeError as exc:
            raise UserError(f"cannot build {name!r}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise UserError(f"{name!r} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def _from_factory(text: str, input_sizes: list[tuple[int, ...]] | None, kwargs: dict[str, Any], device: str | torch.device) -> ResolvedModel:
    source, _, attr = text.rpartition(":")
    sizes = input_sizes or [DEFAULT_IMAGE_INPUT]
    if source == "torchvision":
        tv = _import_optional("torchvision.models", "torchvision")
        try:
            make: Any = lambda: tv.get_model(attr, weights=None, **kwargs)  # noqa: E731
            tv.get_model_builder(attr)
        except ValueError:
            raise UserError(f"torchvision has no model {attr!r}; see torchvision.models.list_models()") from None
    elif source == "timm":
        timm = _import_optional("timm", "timm")
        if attr not in timm.list_models():
            raise UserError(f"timm has no model {attr!r}; see timm.list_models()")
        make = lambda: timm.create_model(attr, pretrained=False, **kwargs)  # noqa: E731
    else:
        module = _import_source(source)
        factory = getattr(module, attr, None)
        if factory is None or not callable(factory):
            public = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
            from netanatomy.errors import close_names

            raise UserError(f"{source!r} has no callable {attr!r}.{close_names(attr, public)}")

        def make() -> Any:
            try:
                return factory(**kwargs)
            except UserError:
                raise
            except Exception as exc:  # the user's factory raised: their bug, reported in one line
                raise UserError(f"{text}: the factory raised {type(exc).__name__}: {exc}") from None

    try:
        model = _build(make, text, device)
    except UserError:
        if torch.device(device).type != "meta":
            raise
        # Some factories cannot run on the meta device (they compute with their weights while
        # building); build those for real on the CPU, which the analysis handles just as well.
        model = _build(make, text, "cpu")
    return ResolvedModel(model, text, sizes, [torch.float32] * len(sizes), True)


def _import_optional(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"{package} is not installed; `pip install {package}` to analyse its models") from None


def _import_source(source: str) -> Any:
    # Importing runs the user's code: that is what analysing their model requires.
    if source.endswith(".py") or "/" in source or source.startswith("."):
        path = Path(source)
        if not path.is_file():
            raise UserError(f"no such file {source!r}; write MODEL as path/to/file.py:factory")
        spec = importlib.util.spec_from_file_location(f"_netanatomy_user_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise UserError(f"cannot import {source!r} as a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise UserError(f"importing {source} raised {type(exc).__name__}: {exc}") from None
        finally:
            sys.path.pop(0)
        return module
    try:
        return importlib.import_module(source)
    except ImportError as exc:
        raise UserError(f"cannot import module {source!r}: {exc}") from None
