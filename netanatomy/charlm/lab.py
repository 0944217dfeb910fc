"""``charrnn inspect``: one checkpoint's surprisal next to the n-gram's, and its interpretable cells.

:func:`inspect_checkpoint` gathers the numbers (surprisal per character under the char model
and a Kneser-Ney n-gram, their totals over the validation split, every unit's activation and
the feature search); :func:`render_html` draws them as one self-contained page (inline CSS, no
script, no network: hovering a character shows its top-5 candidates through the ``title``
attribute); :func:`render_text` prints the summary; :func:`to_dict` is the JSON.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netanatomy.charlm.cells import Activations, FeatureResult, search_cells, search_to_dict, unit_activations
from netanatomy.charlm.corpus import Vocabulary
from netanatomy.charlm.ngram import KneserNey
from netanatomy.charlm.surprisal import (
    LN2,
    RunText,
    Surprisal,
    encode_passage,
    model_surprisal,
    ngram_surprisal,
    run_text,
    stream_surprisal,
)
from netanatomy.errors import UserError

#: The n-gram order when none is given: the issue's "6-gram" (5 characters of history).
DEFAULT_ORDER = 6
DEFAULT_CHARS = 2000


@dataclass
class Totals:
    """Mean surprisal over the whole validation split, in the layouts the run's tools report."""

    #: Characters scored by the model (training's evaluation layout) and its mean, nats/char.
    model_chars: int
    model_nats: float
    #: The n-gram over the whole validation split with the training text as context (``ngram eval``).
    ngram_chars: int
    ngram_nats: float


@dataclass
class InspectResult:
    checkpoint: str
    description: str
    source: str
    text: str
    vocab: Vocabulary
    model: Surprisal
    ngram: Surprisal
    totals: Totals | None
    activations: Activations
    search: list[FeatureResult]
    units: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_ngram(path: str | os.PathLike[str], vocab: Vocabulary) -> KneserNey:
    """An n-gram model saved by ``ngram train``; its vocabulary must be the checkpoint's."""
    kn, z = KneserNey.load(path)
    byte_level = bool(z.get("byte_level", np.array(False)))
    chars = tuple(str(c) for c in z.get("chars", np.array([], dtype="<U1")))
    if byte_level != vocab.is_byte_level or (not byte_level and chars != vocab.chars):
        raise UserError(f"{path} was trained on another vocabulary than the checkpoint; train the n-gram on the "
                        "run's text (or leave out --ngram and it is trained on the run's training split)")
    return kn


def inspect_checkpoint(
    checkpoint: str | os.PathLike[str],
    *,
    text: str | os.PathLike[str] | None = None,
    ngram: str | os.PathLike[str] | None = None,
    order: int = DEFAULT_ORDER,
    chars: int = DEFAULT_CHARS,
    units: tuple[str, ...] = (),
    top: int = 5,
    train_text: str | os.PathLike[str] | None = None,
    val_fraction: float | None = None,
    device: torch.device | str = "cpu",
) -> InspectResult:
    """Score a passage with the checkpoint's model and an n-gram; read and search its units.

    Args:
        checkpoint: a char checkpoint (or its run directory).
        text: a UTF-8 file to score (its first ``chars`` characters); default the start of the
            run's validation split.
        ngram: a saved n-gram (``ngram train -o``); default one of ``order`` trained on the
            run's training split.
        order: n of the n-gram trained when ``ngram`` is not given.
        chars: characters of the passage.
        units: units to draw (``l0.c17``, ``h5``) besides the search's best ones.
        top: units listed per feature.
        train_text: the run's training text, when it moved since training.
        val_fraction: the run's validation fraction when the checkpoint does not record it
            (default: the checkpoint's, else training's default 0.1).
        device: where the model runs.
    """
    from netanatomy.charlm.checkpoint import load_model

    if chars < 2:
        raise UserError(f"--chars must be at least 2, got {chars}")
    model, vocab, state = load_model(checkpoint, device)
    cfg = state["model_config"]
    description = f"{cfg['cell'].upper()} {cfg['num_layers']}x{cfg['hidden_size']} at step {state.get('step', '?')}"
    notes: list[str] = []
    run: RunText | None = None
    try:
        run = run_text(state, checkpoint, train_text, val_fraction)
    except UserError as exc:
        if text is None or ngram is None:
            raise UserError(f"{exc} (inspect needs it for the default passage and for the n-gram; or give both "
                            "--text and --ngram)") from None
        notes.append(f"validation totals left out: {exc}")

    if text is not None:
        p = Path(text)
        if not p.is_file():
            raise UserError(f"no such file: {p}")
        try:
            passage = p.read_text(encoding="utf-8")[:chars]
        except UnicodeDecodeError as exc:
            raise UserError(f"{p} is not UTF-8 text (invalid byte at offset {exc.start})") from None
        tokens = encode_passage(passage, vocab, source=str(p))
        context = None
        source = f"the first {len(passage):,} characters of {p}"
    else:
        assert run is not None
        tokens = np.asarray(run.corpus.val[:chars], dtype=np.int64)
        passage = vocab.decode(tokens)
        context = np.asarray(run.corpus.train, dtype=np.int64)
        source = f"the first {len(tokens):,} characters of the validation split of {run.path}"
    if len(tokens) < 2:
        raise UserError("the passage needs at least 2 characters")

    if ngram is not None:
        kn = load_ngram(ngram, vocab)
    else:
        assert run is not None
        kn = KneserNey(order, vocab.size).fit(np.asarray(run.corpus.train, dtype=np.int64))
    ms = model_surprisal(model, tokens, device=device, name=cfg["cell"].upper())
    ns = ngram_surprisal(kn, tokens, context)

    totals = None
    if run is not None:
        tc = state.get("config", {})
        val = np.asarray(run.corpus.val, dtype=np.int64)
        eval_chars = int(tc.get("eval_chars", 0))
        scored = val[: eval_chars + 1] if eval_chars else val
        model_nats = stream_surprisal(model, scored, int(tc.get("batch_size", 64)), int(tc.get("seq_len", 128)), device)
        ngram_nats = -kn.log_probs(val, context=np.asarray(run.corpus.train, dtype=np.int64))
        totals = Totals(len(model_nats), float(model_nats.mean()), len(ngram_nats), float(ngram_nats.mean()))

    acts = unit_activations(model, tokens, device)
    for u in units:
        acts.unit(u)  # unknown units fail here, before any rendering
    search = search_cells(acts, passage, top=top)
    return InspectResult(checkpoint=str(checkpoint), description=description, source=source, text=passage,
                         vocab=vocab, model=ms, ngram=ns, totals=totals, activations=acts, search=search,
                         units=list(units), notes=notes)


# ----------------------------------------------------------------------------- JSON and text
def to_dict(r: InspectResult) -> dict[str, Any]:
    """The numbers: per-character surprisal (bits) of both models, totals, the cell search."""
    out: dict[str, Any] = {
        "checkpoint": r.checkpoint,
        "model": r.description,
        "ngram": r.ngram.name,
        "passage": {"source": r.source, "text": r.text, "chars": len(r.text), "scored": len(r.model.nats),
                    "model_bits_per_char": r.model.mean_bits, "ngram_bits_per_char": r.ngram.mean_bits,
                    "model_bits": (r.model.nats / LN2).tolist(), "ngram_bits": (r.ngram.nats / LN2).tolist()},
        "cells": search_to_dict(r.search),
        "notes": r.notes,
    }
    if r.totals is not None:
        t = r.totals
        out["validation"] = {
            "model_chars": t.model_chars, "model_nats_per_char": t.model_nats, "model_bits_per_char": t.model_nats / LN2,
            "ngram_chars": t.ngram_chars, "ngram_nats_per_char": t.ngram_nats, "ngram_bits_per_char": t.ngram_nats / LN2,
        }
    return out


def _shown(c: str) -> str:
    return {"\n": "\\n", "\t": "\\t", " ": "␣"}.get(c, c)


def _context(text: str, i: int, width: int = 24) -> str:
    return "".join(_shown(c) for c in text[max(0, i - width) : i])


def render_text(r: InspectResult, top_places: int = 8) -> str:
    """The summary for a terminal: totals, where the model knows most more, the cell search."""
    lines = [f"{r.description} ({r.checkpoint}); passage: {r.source}"]
    n = len(r.model.nats)
    lines.append(f"passage, {n:,} characters scored: {r.model.name} {r.model.mean_bits:.4f} bits/char, "
                 f"{r.ngram.name} {r.ngram.mean_bits:.4f} bits/char")
    if r.totals is not None:
        t = r.totals
        lines.append(f"validation split: {r.model.name} {t.model_nats:.4f} nats/char ({t.model_nats / LN2:.4f} bits/char) "
                     f"over {t.model_chars:,} characters, as `charrnn train` evaluates; {r.ngram.name} "
                     f"{t.ngram_nats:.4f} nats/char ({t.ngram_nats / LN2:.4f} bits/char) over {t.ngram_chars:,}, as `ngram eval`")
    lines.extend(f"note: {note}" for note in r.notes)
    diff = (r.ngram.nats - r.model.nats) / LN2
    lines.append(f"where the {r.model.name} beats the {r.ngram.name} most ({r.ngram.name} surprisal minus "
                 f"{r.model.name} surprisal, bits; [the character] after its context):")
    for j in np.argsort(-diff, kind="stable")[:top_places]:
        i = int(j) + 1  # the character predicted at position j
        lines.append(f"  {diff[j]:+6.2f}  at {i:5d}: ...{_context(r.text, i)}[{_shown(r.text[i])}]  "
                     f"model {r.model.nats[j] / LN2:.2f}, {r.ngram.name} {r.ngram.nats[j] / LN2:.2f}")
    lines.append("cells: the units that follow each feature best (Pearson r over the passage)")
    for res in r.search:
        best = ", ".join(f"{u.unit} {u.r:+.2f}" for u in res.best) if res.present else "absent from the passage"
        lines.append(f"  {res.feature:17s} {best}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
pre.t{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;line-height:1.5;white-space:pre-wrap;
 border:1px solid #ddd;padding:.6em;background:#fff}
pre.t span{border-radius:2px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}
.nl{color:#bbb}.legend span{display:inline-block;padding:0 .5em;margin-right:.3em}
"""


def _rgba(rgb: tuple[int, int, int], alpha: float) -> str:
    return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{min(1.0, max(0.0, alpha)):.2f})"


_RED, _BLUE, _ORANGE = (214, 39, 40), (31, 119, 180), (255, 127, 14)


def _span(c: str, colour: str | None, title: str) -> str:
    body = '<span class="nl">↵</span>\n' if c == "\n" else html.escape(c)
    style = f' style="background:{colour}"' if colour else ""
    return f'<span{style} title="{html.escape(title, quote=True)}">{body}</span>'


def _candidates(s: Surprisal, j: int, vocab: Vocabulary) -> str:
    return ", ".join(f"{vocab.symbol(int(i))} {p:.3f}" for i, p in zip(s.top_ids[j], s.top_probs[j]))


def _surprisal_view(r: InspectResult, which: str) -> str:
    out = [_span(r.text[0], None, "first character: read, not scored")]
    scale = 8.0  # bits at full colour
    for j in range(len(r.model.nats)):
        c = r.text[j + 1]
        bm, bn = r.model.nats[j] / LN2, r.ngram.nats[j] / LN2
        if which == "model":
            colour = _rgba(_RED, bm / scale)
        elif which == "ngram":
            colour = _rgba(_RED, bn / scale)
        else:
            d = bn - bm
            colour = _rgba(_BLUE if d > 0 else _ORANGE, abs(d) / 4.0)
        title = (f"{_shown(c)!r}: {r.model.name} {bm:.2f} bits, {r.ngram.name} {bn:.2f} bits\n"
                 f"{r.model.name} top 5: {_candidates(r.model, j, r.vocab)}\n"
                 f"{r.ngram.name} top 5: {_candidates(r.ngram, j, r.vocab)}")
        out.append(_span(c, colour, title))
    return '<pre class="t">' + "".join(out) + "</pre>"


def _unit_view(r: InspectResult, unit: str, limit: int) -> str:
    a = r.activations.unit(unit)[:limit]
    peak = float(np.abs(a).max()) or 1.0
    spans = [_span(c, _rgba(_BLUE if v > 0 else _RED, abs(v) / peak), f"{unit} = {v:+.3f}")
             for c, v in zip(r.text[:limit], a)]
    return '<pre class="t">' + "".join(spans) + "</pre>"


def render_html(r: InspectResult, cell_chars: int = 800) -> str:
    """The whole lab as one self-contained HTML page (inline CSS, no script, no external file)."""
    e = html.escape
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>char-RNN lab: {e(r.description)}</title><style>{_CSS}</style></head><body>",
        f"<h1>char-RNN lab: {e(r.description)}</h1>",
        f"<p>Checkpoint <code>{e(r.checkpoint)}</code>; passage: {e(r.source)}. Hover over a character for its "
        "surprisal −log₂ p under both models and their top-5 candidates for it.</p>",
        "<table><tr><th></th><th>" + e(r.model.name) + "</th><th>" + e(r.ngram.name) + "</th></tr>",
        f"<tr><td>passage ({len(r.model.nats):,} characters scored), bits/char</td><td>{r.model.mean_bits:.4f}</td>"
        f"<td>{r.ngram.mean_bits:.4f}</td></tr>",
    ]
    if r.totals is not None:
        t = r.totals
        parts.append(f"<tr><td>validation split, bits/char (as <code>charrnn train</code> / <code>ngram eval</code> "
                     f"report: {t.model_chars:,} / {t.ngram_chars:,} characters)</td><td>{t.model_nats / LN2:.4f}</td>"
                     f"<td>{t.ngram_nats / LN2:.4f}</td></tr>")
    parts.append("</table>")
    parts.extend(f"<p><em>{e(n)}</em></p>" for n in r.notes)
    parts += [
        f"<h2>Surprisal under the {e(r.model.name)}</h2>",
        '<p class="legend">red: surprised (8 bits or more at full colour); white: certain.</p>',
        _surprisal_view(r, "model"),
        f"<h2>Surprisal under the {e(r.ngram.name)} (Kneser-Ney)</h2>",
        f"<p>The n-gram sees only the last {int(r.ngram.name.split('-')[0]) - 1} characters.</p>",
        _surprisal_view(r, "ngram"),
        "<h2>Difference</h2>",
        f'<p class="legend"><span style="background:{_rgba(_BLUE, 0.8)}">blue</span>: the {e(r.model.name)} knows more '
        f'(lower surprisal) than the {e(r.ngram.name)}; <span style="background:{_rgba(_ORANGE, 0.8)}">orange</span>: '
        "the n-gram knows more; 4 bits of difference at full colour.</p>",
        _surprisal_view(r, "diff"),
        "<h2>Interpretable cells</h2>",
        "<p>Pearson r of every unit's activation (after reading a character) with features of the text; "
        "the five best units per feature. Units are <code>lLAYER.hINDEX</code> (hidden) and "
        "<code>lLAYER.cINDEX</code> (LSTM cell).</p>",
        "<table><tr><th>feature</th><th>meaning</th><th>best units (r)</th></tr>",
    ]
    for res in r.search:
        best = ", ".join(f"{u.unit} {u.r:+.2f}" for u in res.best) if res.present else "absent from the passage"
        parts.append(f"<tr><td>{e(res.feature)}</td><td>{e(res.meaning)}</td><td>{e(best)}</td></tr>")
    parts.append("</table>")
    shown: list[tuple[str, str]] = [(u, "picked") for u in r.units]
    for res in r.search:
        if res.present and res.best:
            shown.append((res.best[0].unit, f"best for {res.feature}, r = {res.best[0].r:+.2f}"))
    parts.append(f'<p class="legend">First {min(cell_chars, len(r.text)):,} characters; '
                 f'<span style="background:{_rgba(_BLUE, 0.8)}">blue</span> positive, '
                 f'<span style="background:{_rgba(_RED, 0.8)}">red</span> negative, scaled to the unit\'s largest |value|.</p>')
    for unit, why in shown:
        parts.append(f"<h3>{e(unit)} <small>({e(why)})</small></h3>")
        parts.append(_unit_view(r, unit, cell_chars))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
