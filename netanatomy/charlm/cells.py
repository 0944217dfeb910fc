"""Interpretable cells: what individual hidden and cell units of a char model track.

Karpathy, Johnson & Fei-Fei (2015), "Visualizing and Understanding Recurrent Networks", §4.2,
found LSTM cells that switch on inside quotes, count the position in the line, or track the
depth of brackets. Here every unit's activation over a passage is correlated (Pearson's r)
with simple features computed from the text, and the best units per feature are listed; any
unit can be drawn over the text.

Alignment: the activation at time t is the state *after reading* character t, and each
feature is defined at character t from what has been read up to and including it (inside a
quote after reading it, the column of the character, ...), so both describe the same moment.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from netanatomy.errors import UserError

_OPEN, _CLOSE = "([{", ")]}"
_QUOTES = '"\u201c\u201d'
_VOWELS = set("aeiouAEIOU")


def _inside_quotes(text: str) -> np.ndarray:
    """1 after an opening double quote up to (excluding) its closing one; the opening quote itself
    is inside (the state after reading it), the closing one outside. Curly quotes open/close
    explicitly, straight ones toggle."""
    out = np.zeros(len(text))
    inside = False
    for i, c in enumerate(text):
        if c == '"':
            inside = not inside
        elif c == "\u201c":
            inside = True
        elif c == "\u201d":
            inside = False
        out[i] = inside
    return out


def _inside_brackets(text: str) -> np.ndarray:
    """1 while at least one of ( [ { is open after reading the character."""
    out = np.zeros(len(text))
    depth = 0
    for i, c in enumerate(text):
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth = max(0, depth - 1)
        out[i] = depth > 0
    return out


def _position_in_line(text: str) -> np.ndarray:
    """Column of each character (0 for the first of a line; a newline closes its line)."""
    out = np.zeros(len(text))
    col = 0
    for i, c in enumerate(text):
        out[i] = col
        col = 0 if c == "\n" else col + 1
    return out


def _start_of_word(text: str) -> np.ndarray:
    return np.array([c.isalpha() and (i == 0 or not text[i - 1].isalpha()) for i, c in enumerate(text)], dtype=float)


def _after_newline(text: str) -> np.ndarray:
    return np.array([i > 0 and text[i - 1] == "\n" for i in range(len(text))], dtype=float)


def _is_punctuation(c: str) -> bool:
    return c in string.punctuation or unicodedata.category(c).startswith("P")


def _per_char(test: Callable[[str], bool]) -> Callable[[str], np.ndarray]:
    return lambda text: np.array([test(c) for c in text], dtype=float)


#: Feature name -> (function of the text, what it means). Data, so a new feature is one line.
FEATURES: dict[str, tuple[Callable[[str], np.ndarray], str]] = {
    "inside_quotes": (_inside_quotes, 'inside a "double-quoted" span'),
    "inside_brackets": (_inside_brackets, "inside ( ), [ ] or { }"),
    "position_in_line": (_position_in_line, "column in the line (0 = first character)"),
    "start_of_word": (_start_of_word, "first letter of a word"),
    "after_newline": (_after_newline, "first character after a line break"),
    "uppercase": (_per_char(str.isupper), "an upper-case letter"),
    "vowel": (_per_char(lambda c: c in _VOWELS), "a vowel (a e i o u)"),
    "digit": (_per_char(str.isdigit), "a digit"),
    "punctuation": (_per_char(_is_punctuation), "a punctuation mark"),
}


def text_features(text: str) -> dict[str, np.ndarray]:
    """Every feature of :data:`FEATURES` at every character of ``text``."""
    return {name: fn(text) for name, (fn, _) in FEATURES.items()}


def _module(model: nn.Module, name: str) -> nn.Module:
    """A named sub-module of a zoo char model (``encoder``, ``rnn``, ``decoder``)."""
    m = getattr(model, name, None)
    if not isinstance(m, nn.Module):
        raise UserError(f"{type(model).__name__} has no `{name}` module: not a zoo char model (char_rnn/lstm/gru)")
    return m


# ----------------------------------------------------------------------------- activations
@dataclass
class Activations:
    """Unit activations over a passage: (T, U) per kind, with one name per column."""

    #: ``h`` for hidden units of every layer (and ``c`` for an LSTM's cell units), (T, layers·H).
    values: dict[str, np.ndarray]
    hidden_size: int
    num_layers: int

    def names(self, kind: str) -> list[str]:
        return [f"l{layer}.{kind}{i}" for layer in range(self.num_layers) for i in range(self.hidden_size)]

    def unit(self, name: str) -> np.ndarray:
        """The activation of one unit, by name: ``l0.c17``, ``l1.h5`` or ``c17`` (layer 0)."""
        m = re.fullmatch(r"(?:l(\d+)\.)?([hc])(\d+)", name.strip())
        if m is None:
            raise UserError(f"unit {name!r} is not of the form [lLAYER.]h|cINDEX, e.g. c17 or l1.h5")
        layer, kind, index = int(m.group(1) or 0), m.group(2), int(m.group(3))
        if kind not in self.values:
            raise UserError(f"unit {name!r}: this model has no {kind!r} units (cell units c exist only in an LSTM)")
        if layer >= self.num_layers or index >= self.hidden_size:
            raise UserError(f"unit {name!r} does not exist: the model has {self.num_layers} layer(s) of "
                            f"{self.hidden_size} units (l0..l{self.num_layers - 1}, 0..{self.hidden_size - 1})")
        return self.values[kind][:, layer * self.hidden_size + index]


@torch.no_grad()
def unit_activations(model: nn.Module, tokens: np.ndarray, device: torch.device | str = "cpu") -> Activations:
    """Run ``model`` (a zoo char model: ``encoder`` then ``rnn``) over ``tokens`` one character at
    a time from the zero state, recording the state of every layer after each character.

    The recurrent module returns only the top layer's outputs for a whole sequence (and an
    LSTM's cell states not at all), so the sequence is stepped to read every layer's state.
    """
    rnn = model.rnn
    if not isinstance(rnn, (nn.RNN, nn.LSTM, nn.GRU)):
        raise UserError(f"{type(rnn).__name__} is not a recurrent layer this lab can read")
    x = _module(model, "encoder")(torch.as_tensor(np.asarray(tokens, dtype=np.int64), device=device)[None])
    state: Any = None
    hs, cs = [], []
    for t in range(x.shape[1]):
        _, state = rnn(x[:, t : t + 1], state)
        h, c = state if isinstance(state, tuple) else (state, None)
        hs.append(h[:, 0].reshape(-1).double().cpu())  # layers x H -> layers·H
        if c is not None:
            cs.append(c[:, 0].reshape(-1).double().cpu())
    values = {"h": torch.stack(hs).numpy()}
    if cs:
        values["c"] = torch.stack(cs).numpy()
    return Activations(values=values, hidden_size=rnn.hidden_size, num_layers=rnn.num_layers)


# ----------------------------------------------------------------------------- the search
def correlations(acts: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Pearson's r of every column of ``acts`` (T, U) with ``feature`` (T,); 0 where a unit is
    constant over the passage (r is undefined there and says nothing)."""
    a = acts - acts.mean(axis=0)
    f = feature - feature.mean()
    denom = np.sqrt((a * a).sum(axis=0) * float((f * f).sum()))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * f[:, None]).sum(axis=0) / denom
    return np.where(denom > 0, r, 0.0)


@dataclass
class UnitScore:
    unit: str
    r: float


@dataclass
class FeatureResult:
    """The units that follow one feature best, by |r|; ``present`` is False when the feature is
    constant over the passage (e.g. no quote in it), so nothing can correlate with it."""

    feature: str
    meaning: str
    present: bool
    best: list[UnitScore] = field(default_factory=list)


def search_cells(acts: Activations, text: str, top: int = 5) -> list[FeatureResult]:
    """For every feature of :data:`FEATURES`, the ``top`` units (hidden and cell) with the largest
    |Pearson r| over ``text`` (the passage the activations were read on)."""
    n = next(iter(acts.values.values())).shape[0]
    if len(text) != n:
        raise ValueError(f"text has {len(text)} characters but the activations {n} time steps")
    names = [name for kind in acts.values for name in acts.names(kind)]
    matrix = np.concatenate([acts.values[k] for k in acts.values], axis=1)
    out = []
    for feat, values in text_features(text).items():
        meaning = FEATURES[feat][1]
        if values.std() == 0:
            out.append(FeatureResult(feat, meaning, present=False))
            continue
        r = correlations(matrix, values)
        order = np.argsort(-np.abs(r), kind="stable")[:top]
        out.append(FeatureResult(feat, meaning, present=True, best=[UnitScore(names[i], float(r[i])) for i in order]))
    return out


def search_to_dict(results: list[FeatureResult]) -> dict[str, Any]:
    return {
        res.feature: {"meaning": res.meaning, "present": res.present,
                      "best": [{"unit": u.unit, "r": u.r} for u in res.best]}
        for res in results
    }
