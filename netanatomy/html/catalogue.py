"""The page's words, from the project's one message catalogue per language.

The labels live beside the explanations' messages (``netanatomy/explain/messages/en.py``,
``ko.py``), under keys namespaced ``report.``: one catalogue per language for everything
netanatomy writes in words, so a third language is one new module for the CLI's explanations and
the pages alike. The page embeds the entries it uses and switches language without reloading.
"""

from __future__ import annotations

from netanatomy.explain.messages import catalogue as language_catalogue
from netanatomy.explain.messages import languages

_PREFIX = "report."


def catalogue(lang_keys: tuple[str, ...] | None = None) -> dict[str, dict[str, str]]:
    """``{lang: {key: text}}`` for the page's script (keys without the ``report.`` namespace)."""
    return {lang: {k.removeprefix(_PREFIX): v for k, v in language_catalogue(lang).items() if k.startswith(_PREFIX)}
            for lang in (lang_keys or languages())}


def messages() -> dict[str, dict[str, str]]:
    """``{key: {lang: text}}`` of the page's labels, every language (what the tests check)."""
    by_lang = catalogue()
    keys = next(iter(by_lang.values()))
    return {f"{_PREFIX}{k}": {lang: texts[k] for lang, texts in by_lang.items()} for k in keys}
