"""One self-contained HTML file: the page's CSS and script, the catalogue and the data, inline.

Nothing is fetched when the page is opened (no CDN, no font, no image URL): pictures are data
URIs and the graph is inline SVG. The data travels as one JSON document in a
``<script type="application/json">`` element, which the page's script reads and draws.
"""

from __future__ import annotations

import html
import json
import os
from importlib import resources
from typing import Any

from netanatomy.atomic import write_text
from netanatomy.html.catalogue import catalogue

#: Version of the embedded document (raised when a field changes meaning).
PAGE_SCHEMA_VERSION = 1


def _asset(name: str) -> str:
    return resources.files("netanatomy.html").joinpath("assets", name).read_text(encoding="utf-8")


def json_for_script(data: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: ``</`` cannot close it."""
    # "<" only occurs inside JSON strings, where "<\/" and "\u003c!--" mean "</" and "<!--".
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "\\u003c!--")


def render(kind: str, title: str, data: dict[str, Any], lang: str = "en") -> str:
    """The whole page.

    Args:
        kind: ``"models"`` (one model or a comparison) or ``"run"`` (a training run).
        title: the page title.
        data: the document the script draws (``models``: a list of model payloads).
        lang: the language the page opens in (``en`` or ``ko``); switchable in the page.
    """
    doc = {"schema_version": PAGE_SCHEMA_VERSION, "kind": kind, "lang": lang, "messages": catalogue(), **data}
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # No network when opened: the policy forbids every fetch except inline and data: content.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
        f"<title>{html.escape(title)}</title>\n<style>\n{_asset('report.css')}</style>\n</head>\n<body>\n"
        '<div id="app"><noscript>This report needs JavaScript to draw its tables and charts.</noscript></div>\n'
        f'<script type="application/json" id="netanatomy-data">{json_for_script(doc)}</script>\n'
        f"<script>\n{_asset('report.js')}</script>\n</body>\n</html>\n"
    )


def write_page(path: str | os.PathLike[str], text: str) -> None:
    """Write the page atomically (a reader never sees half a file)."""
    write_text(path, text)
