"""Errors that are the user's to fix, kept apart from the bugs that are ours."""

from __future__ import annotations


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
