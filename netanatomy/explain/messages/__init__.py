"""Message catalogues of ``netanatomy explain``, one module per language.

Each module ``<code>.py`` here (``en``, ``ko``) holds ``MESSAGES``, a dict from keys to templates
with ``{name}`` placeholders, and ``LANGUAGE`` (its name in that language). The catalogues share
their keys and their placeholders (the tests check it); numbers are formatted by the code, never
by a template, so every language prints the same figures. Adding a language is adding a module:
copy ``en.py`` to ``<code>.py`` and translate the values. Other reports (the HTML report's labels)
may read the same catalogues with :func:`catalogue`.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache

from netanatomy.errors import UnknownNameError, close_names

_CODE = re.compile(r"^[a-z]{2,3}(_[a-z]{2})?$")


def languages() -> tuple[str, ...]:
    """The language codes that have a catalogue, English first."""
    # The package's __path__, so that a catalogue added beside these (or on an extended path) counts.
    found = sorted({m.name for m in pkgutil.iter_modules(list(__path__)) if _CODE.match(m.name)})
    return tuple(sorted(found, key=lambda c: c != "en"))


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The messages of language ``lang`` (e.g. ``"ko"``).

    Raises:
        UnknownNameError: no catalogue for ``lang``; the message lists those there are.
    """
    known = languages()
    if lang not in known:
        raise UnknownNameError(f"no language {lang!r}.{close_names(lang, known)} Languages: {', '.join(known)}")
    module = importlib.import_module(f"{__name__}.{lang}")
    return dict(module.MESSAGES)


def placeholders(template: str) -> set[str]:
    """The ``{name}`` placeholders of a template."""
    return set(re.findall(r"\{([A-Za-z0-9_.]+)\}", template))
