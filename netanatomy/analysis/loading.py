"""Turn the MODEL argument of the CLI into a module and its default input.

MODEL is one of:

- a zoo name (``vgg16``; see ``netanatomy models``);
- ``torchvision:NAME`` or ``timm:NAME`` when those packages are installed (built without weights);
- ``path/to/file.py:factory`` or ``package.module:factory``: **this imports and runs the user's
  code**, exactly as ``python file.py`` would — only analyse files you trust;
- ``transformers:CLASS`` (``pip install netanatomy[hf]``): a Hugging Face model class built from
  its config class's defaults, ``-a`` overriding config fields; nothing is downloaded;
- a one-line spec of a sequential stack (see :mod:`netanatomy.analysis.spec`).

Models are built on the meta device. One that cannot be (its factory computes with its weights)
is refused with the factory's own error; ``--materialize`` builds it on the CPU on purpose.
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
DEFAULT_SEQ_LEN = 128  # tokens, for transformers:CLASS models that read input ids


@dataclass
class ResolvedModel:
    model: nn.Module
    name: str
    input_sizes: list[tuple[int, ...]]
    input_dtypes: list[torch.dtype]
    spatial: bool


# At most 15 digits a dimension: int() of a 5,000-digit string would raise a ValueError.
_INPUT_ITEM = re.compile(r"\s*(?P<shape>\d{1,15}(?:x\d{1,15})*|scalar|)\s*(?::\s*(?P<dtype>\w+))?\s*")


def parse_inputs(text: str) -> list[tuple[tuple[int, ...], torch.dtype | None]]:
    """``"2x9:int64,2:int64"`` -> ``[((2, 9), torch.int64), ((2,), torch.int64)]``.

    One item per positional input, separated by commas: a size batch first (``1x3x224x224``),
    or ``scalar`` (or nothing) for a 0-d input, then optionally ``:DTYPE`` (``:int64``, ``:bool``,
    ``:float16``...; default: the model's own input dtype, else float32). ``:float32`` alone is a
    0-d float32 input.
    """
    from netanatomy.capture.inputs import INPUT_DTYPES

    items: list[tuple[tuple[int, ...], torch.dtype | None]] = []
    for part in text.split(","):
        m = _INPUT_ITEM.fullmatch(part)
        if m is None or (not m["shape"] and m["dtype"] is None and part.strip() != "scalar"):
            raise UserError(f"malformed input size {part.strip()[:40]!r} in --input {text[:60]!r}: write each input as a size "
                            "batch first with an optional dtype, e.g. 1x3x224x224 or 2x9:int64; "
                            "'scalar:float32' (or ':float32') for a 0-d input")
        shape = () if m["shape"] in ("", "scalar") else tuple(int(x) for x in m["shape"].split("x"))
        if any(d <= 0 for d in shape):
            raise UserError(f"input size {m['shape']} must be positive, batch first (e.g. 1x3x224x224)")
        dtype = None
        if m["dtype"] is not None:
            dtype = INPUT_DTYPES.get(m["dtype"].lower())
            if dtype is None:
                from netanatomy.errors import close_names

                raise UserError(f"unknown input dtype {m['dtype']!r}.{close_names(m['dtype'], list(INPUT_DTYPES))} "
                                f"Choose one of {', '.join(INPUT_DTYPES)}")
        items.append((shape, dtype))
    check_input_sizes([shape for shape, _ in items])
    return items


def parse_input_size(text: str) -> list[tuple[int, ...]]:
    """``"1x3x224x224"`` -> ``[(1, 3, 224, 224)]``; several inputs separated by commas (dtypes,
    if any, are read by :func:`parse_inputs`)."""
    return [shape for shape, _ in parse_inputs(text)]


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
    *,
    seq_len: int | None = None,
) -> ResolvedModel:
    """Build the model that ``text`` names (on ``device``; "meta" allocates no weights).

    ``seq_len``: the number of tokens of the default input of a ``transformers:CLASS`` model.
    """
    from netanatomy.zoo.registry import create_model, get_model_info, list_models

    kwargs = kwargs or {}
    names = list_models()
    if text.startswith("transformers:"):
        return _from_transformers(text.partition(":")[2], input_sizes, kwargs, device, seq_len)
    if ":" in text and text not in names:
        return _from_factory(text, input_sizes, kwargs, device)
    if text in names:
        info = get_model_info(text)
        model = _build(lambda: create_model(text, **kwargs), text, device)
        sizes = input_sizes or [info.input_size]
        return ResolvedModel(model, text, sizes, [info.input_dtype] * len(sizes), info.spatial)
    if looks_like_spec(text):
        sizes = input_sizes or [DEFAULT_IMAGE_INPUT]
        model = _build(lambda: build_from_spec(text, sizes[0]), text, device)
        return ResolvedModel(model, text, sizes, [torch.float32], True)
    get_model_info(text)  # raises with close names
    raise AssertionError("unreachable")


class MetaBuildError(UserError):
    """A model whose builder cannot run on the meta device; the message points to --materialize."""


def _build(make: Any, name: str, device: str | torch.device) -> nn.Module:
    from netanatomy.capture.meta_init import skip_init_on_meta

    with torch.device(device), skip_init_on_meta():
        try:
            model = make()
        except UserError:
            raise
        except TypeError as exc:
            raise UserError(f"cannot build {name!r}: {exc}") from None
        except (RuntimeError, NotImplementedError) as exc:
            from netanatomy.capture.tracer import needs_values

            # A builder that computes with its weights (torchvision's RegNets call .tolist()) cannot
            # run on meta: not the user's mistake nor our bug, and --materialize is the way on.
            if torch.device(device).type != "meta" or not needs_values(exc):
                raise
            raise MetaBuildError(f"{name} cannot be built on the meta device, where netanatomy builds models without "
                            f"allocating weights: its builder reads tensor values ({str(exc).splitlines()[0]}); "
                            "rerun with --materialize to build it on the CPU with real weights") from None
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
    except UserError as exc:
        if torch.device(device).type != "meta" or isinstance(exc, MetaBuildError):
            raise
        # Some factories cannot run on the meta device (they compute with their weights while
        # building). Building them for real could cost gigabytes: only on request.
        raise UserError(f"{exc} — it cannot be built on the meta device, where netanatomy builds models "
                        "without allocating weights; if it builds on the CPU, rerun with --materialize "
                        "(builds it there with real weights)") from None
    return ResolvedModel(model, text, sizes, [torch.float32] * len(sizes), True)


def _from_transformers(cls_name: str, input_sizes: list[tuple[int, ...]] | None, kwargs: dict[str, Any],
                       device: str | torch.device, seq_len: int | None) -> ResolvedModel:
    """A Hugging Face model class built from its config class's defaults; never downloads."""
    text = f"transformers:{cls_name}"
    if "/" in cls_name or "-" in cls_name or cls_name.startswith("Auto"):
        raise UserError(f"{text}: netanatomy never downloads, and {cls_name!r} names a hub checkpoint or an Auto "
                        "class that needs one; name a model class (transformers:BertModel, "
                        "transformers:LlamaForCausalLM) and set its config fields with -a, e.g. -a num_hidden_layers=2")
    hf = _import_optional("transformers", "transformers", extra="hf")
    cls = getattr(hf, cls_name, None) if cls_name.isidentifier() else None
    config_class = getattr(cls, "config_class", None)
    if cls is None or not isinstance(cls, type) or not issubclass(cls, torch.nn.Module) or config_class is None:
        from netanatomy.errors import close_names

        known = [n for n in dir(hf) if n.endswith(("Model", "LMHeadModel", "ForCausalLM", "ForMaskedLM"))]
        raise UserError(f"transformers has no model class {cls_name!r}.{close_names(cls_name, known)}")
    try:
        defaults = config_class()
    except Exception as exc:
        raise UserError(f"{text}: its config class {config_class.__name__} has no usable defaults "
                        f"({type(exc).__name__}: {exc}); netanatomy builds models from config defaults only") from None
    unknown = [k for k in kwargs if not hasattr(defaults, k)]
    if unknown:
        from netanatomy.errors import close_names

        raise UserError(f"{config_class.__name__} has no field {unknown[0]!r}."
                        f"{close_names(unknown[0], list(defaults.to_dict()))} -a sets config fields, e.g. "
                        "-a num_hidden_layers=2")
    def make() -> Any:
        try:
            return cls(config_class(**kwargs) if kwargs else defaults)
        except Exception as exc:  # the config fields given with -a do not fit together
            raise UserError(f"{text} cannot be built with these config fields: {type(exc).__name__}: {exc}") from None

    model = _build(make, text, device)
    config: Any = model.config
    main_input = getattr(cls, "main_input_name", "input_ids")
    if input_sizes:
        sizes, dtype = input_sizes, torch.int64 if main_input == "input_ids" else torch.float32
    elif main_input == "input_ids":
        sizes, dtype = [(1, seq_len or DEFAULT_SEQ_LEN)], torch.int64
    elif main_input == "pixel_values" and hasattr(config, "image_size"):
        side = config.image_size if isinstance(config.image_size, int) else config.image_size[0]
        sizes, dtype = [(1, getattr(config, "num_channels", 3), side, side)], torch.float32
    else:
        raise UserError(f"{text} reads {main_input!r}: give its size with --input")
    return ResolvedModel(model, text, sizes, [dtype] * len(sizes), main_input == "pixel_values")


def _import_optional(module: str, package: str, extra: str | None = None) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        how = f"pip install 'netanatomy[{extra}]'" if extra else f"pip install {package}"
        raise UserError(f"{package} is not installed; `{how}` to analyse its models") from None


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
