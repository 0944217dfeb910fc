"""``netanatomy report``: one self-contained HTML page per model, comparison or training run.

:func:`model_report` analyses models and returns the page; :func:`run_report` reads a finished
training run. The page embeds the same JSON that ``netanatomy summary --format json`` prints,
plus receptive fields, the graph (laid out by Graphviz) and a photograph, and draws them with a
small hand-written script; it needs no network when opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from netanatomy.html.page import render, write_page

__all__ = ["model_report", "render", "write_page"]


def model_report(payloads: Sequence[dict[str, Any]], lang: str = "en") -> str:
    """The page of one model, or the comparison page of several (payloads of
    :func:`netanatomy.html.payload.model_payload`)."""
    names = ", ".join(p["name"] for p in payloads)
    title = f"netanatomy: {names}"
    return render("models", title, {"models": list(payloads)}, lang)
