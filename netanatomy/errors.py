"""Errors that are the user's to fix, kept apart from the bugs that are ours."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """A mistake in the user's input (name, shape, spec, file).

    The CLI prints it as one line, without a traceback, and exits with code 2.
    The message names the problem and the way out.
    """


class UnknownNameError(UserError, KeyError):
    """A name (model, layer, data set) that is not known; the message lists close names."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


def close_names(name: str, known: list[str] | tuple[str, ...], n: int = 4) -> str:
    """A ' Did you mean ...?' suffix naming the known names closest to ``name``."""
    import difflib

    near = difflib.get_close_matches(name, list(known), n=n, cutoff=0.5)
    if not near:
        near = [k for k in known if name.lower() in k.lower()][:n]
    return f" Did you mean {', '.join(near)}?" if near else ""


#: Optional extras of ``pyproject.toml`` and the top-level modules each one brings. Adding an extra
#: is one line here (and its line under ``[project.optional-dependencies]``).
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("matplotlib", "PIL", "sklearn", "mlxtend"),
    "hf": ("transformers",),
}


class MissingExtraError(UserError):
    """A command needs an optional dependency that is not installed; the message names the extra."""


def extra_for(module: str) -> str | None:
    """The extra that provides top-level ``module`` (``"matplotlib.pyplot"`` counts as matplotlib)."""
    top = module.partition(".")[0]
    return next((extra for extra, modules in EXTRAS.items() if top in modules), None)


def missing_extra_message(extra: str, module: str) -> str:
    return (f"this needs {module.partition('.')[0]}, which comes with the [{extra}] extra: "
            f"pip install 'netanatomy[{extra}]' (or 'netanatomy[all]')")


def require_extra(extra: str, module: str) -> Any:
    """Import ``module`` and return it, or raise :class:`MissingExtraError` naming ``extra``.

    ``require_extra("train", module="matplotlib")`` before the code that plots.
    """
    if module.partition(".")[0] not in EXTRAS.get(extra, ()):
        raise ValueError(f"{module!r} is not listed under the {extra!r} extra in netanatomy.errors.EXTRAS")
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] != module.partition(".")[0]:
            raise  # the module is there but something it imports is not: not ours to rename
        raise MissingExtraError(missing_extra_message(extra, module)) from None
