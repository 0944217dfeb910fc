"""The char-RNN lab's commands: ``charrnn inspect``, ``charrnn gradients``, ``experiment recurrent``.

``register_charrnn(cmds)`` adds ``inspect`` and ``gradients`` to the ``charrnn`` sub-parsers;
``add_recurrent_arguments(p)`` adds the recurrent experiment's options to an ``experiment``
parser and ``experiment_recurrent(args)`` runs it. Only the standard library is imported here;
the handlers import torch when they run.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from netanatomy.cli.common import (
    add_checkpoint,
    add_device,
    add_format,
    add_output,
    add_seed,
    add_threads,
    emit,
    json_text,
)

_ZOO_CELLS = {"char_rnn": "rnn", "char_lstm": "lstm", "char_gru": "gru"}


def register_charrnn(cmds: argparse._SubParsersAction[Any]) -> None:
    """Add ``inspect`` and ``gradients`` to the ``charrnn`` group's sub-parsers."""
    p = cmds.add_parser(
        "inspect",
        help="surprisal per character vs the n-gram, and interpretable cells, as an HTML page",
        description="Score a passage (default: the start of the run's validation split) with the checkpoint's model "
        "and a Kneser-Ney n-gram (trained on the run's training split unless --ngram is given); show each "
        "character's surprisal under both and their difference, and search every hidden/cell unit for text "
        "features (inside quotes, brackets, position in line, ...). Totals over the validation split equal "
        "what `charrnn train` and `ngram eval` report.",
    )
    p.add_argument("ckpt", nargs="?", metavar="CKPT", help="a char checkpoint (ckpt.pt) or its run directory")
    add_checkpoint(p, help="the checkpoint, as a flag (same as CKPT)")
    p.add_argument("--text", metavar="FILE", help="score this UTF-8 file instead of the validation split")
    p.add_argument("--ngram", metavar="MODEL.npz", help="an n-gram saved by `ngram train -o` (same vocabulary)")
    p.add_argument("--order", type=int, default=6, help="order of the n-gram trained when --ngram is absent (default 6)")
    p.add_argument("--chars", type=int, default=2000, help="characters of the passage (default 2000)")
    p.add_argument("--unit", action="append", default=[], metavar="UNIT",
                   help="also draw this unit: [lLAYER.]hINDEX or cINDEX, e.g. c17 or l1.h5 (repeatable)")
    p.add_argument("--top", type=int, default=5, help="units listed per feature (default 5)")
    p.add_argument("--train-text", metavar="FILE", help="the run's training text, if it moved since training")
    p.add_argument("--val-fraction", type=float, default=None,
                   help="the run's --val-fraction, if the checkpoint does not record it (default 0.1, as training)")
    p.add_argument("--html", metavar="FILE", help="write the whole lab as one self-contained HTML page")
    add_output(p, help="write the summary (or JSON) to FILE instead of standard output")
    add_format(p)
    add_device(p)
    add_threads(p)
    p.set_defaults(handler=_inspect)

    g = cmds.add_parser(
        "gradients",
        help="gradient flow through time: ‖∂L_T/∂h_(T-k)‖ against the lag for RNN, LSTM, GRU",
        description="Measure the norm of the last step's loss gradient with respect to every earlier hidden state "
        "and input. Without CKPT: freshly initialised char_rnn, char_lstm and char_gru of the same parameter "
        "count (the hidden sizes are solved to match the reference --hidden-size of the LSTM). With CKPT: "
        "the trained model and the same model at initialisation. Prints the spectral radius and largest "
        "singular value of the vanilla RNN's W_hh.",
    )
    g.add_argument("ckpts", nargs="*", metavar="CKPT", help="char checkpoints (or run directories) to measure")
    add_checkpoint(g, help="a checkpoint, as a flag (adds to CKPT)")
    g.add_argument("--model", nargs="+", default=None, metavar="NAME",
                   help="zoo models at initialisation: char_rnn char_lstm char_gru (default all three without CKPT)")
    g.add_argument("--hidden-size", type=int, default=128, help="hidden size of the reference model (default 128)")
    g.add_argument("--num-layers", type=int, default=1, help="layers of the models at initialisation (default 1)")
    g.add_argument("--vocab-size", type=int, default=65, help="vocabulary of the models at initialisation (default 65)")
    g.add_argument("--lags", type=int, default=100, help="sequence length T: lags 0..T-1 are measured (default 100)")
    g.add_argument("--batch-size", type=int, default=16, help="sequences averaged over (default 16)")
    g.add_argument("--text", metavar="FILE", help="draw the sequences from this text (default: the run's "
                   "validation text, or uniform random characters for models at initialisation)")
    add_output(g, metavar="PNG", help="write the log-scale plot to PNG")
    add_format(g)
    add_seed(g)
    add_device(g)
    add_threads(g)
    g.set_defaults(handler=_gradients)


def add_recurrent_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``experiment recurrent`` that other experiments lack (``--run-dir``, ``--seed``,
    ``--threads``, ``--device``, ``--batch-size`` and ``--lr`` are the experiment parser's own)."""
    from functools import partial

    from netanatomy.training.config import RECURRENT_CELLS, RecurrentConfig, default_of

    d = partial(default_of, RecurrentConfig)  # the one place of these defaults
    g = p.add_argument_group("recurrent (RNN vs GRU vs LSTM)")
    g.add_argument("--text", metavar="FILE",
                   help="recurrent: the text to train on (default: the `netanatomy data shakespeare` file)")
    g.add_argument("--cells", default=",".join(RECURRENT_CELLS), help="recurrent: cells to compare (default %(default)s)")
    g.add_argument("--hidden-size", type=int, default=d("hidden_size"),
                   help="recurrent: the LSTM's hidden size; the others get the same parameter count (default %(default)s)")
    g.add_argument("--num-layers", type=int, default=d("num_layers"), help="recurrent: layers (default %(default)s)")
    g.add_argument("--steps", type=int, default=None, help=f"recurrent: equal steps for each cell (default {d('steps')})")
    g.add_argument("--max-time", type=float, default=None,
                   help="recurrent: equal seconds of training for each cell instead of equal steps")
    g.add_argument("--seq-len", type=int, default=d("seq_len"), help="recurrent: BPTT length (default %(default)s)")
    g.add_argument("--lags", type=int, default=d("lags"), help="recurrent: lags of the gradient-flow plot (default %(default)s)")


# ----------------------------------------------------------------------------- handlers
def _one_checkpoint(args: argparse.Namespace) -> str:
    from netanatomy.errors import UserError

    if args.ckpt and args.checkpoint and args.ckpt != args.checkpoint:
        raise UserError("give the checkpoint once: as CKPT or as --checkpoint")
    ckpt = args.ckpt or args.checkpoint
    if not ckpt:
        raise UserError("give a checkpoint: `netanatomy charrnn inspect runs/NAME/ckpt.pt`")
    return str(ckpt)


def _inspect(args: argparse.Namespace) -> int:
    from netanatomy.charlm.lab import inspect_checkpoint, render_html, render_text, to_dict
    from netanatomy.devices import pick_device, set_threads

    set_threads(args.threads)
    result = inspect_checkpoint(_one_checkpoint(args), text=args.text, ngram=args.ngram, order=args.order,
                                chars=args.chars, units=tuple(args.unit), top=args.top, train_text=args.train_text,
                                val_fraction=args.val_fraction, device=pick_device(args.device))
    if args.html:
        from netanatomy.atomic import write_text

        write_text(args.html, render_html(result))
    if args.format == "json":
        emit(json_text("charrnn.inspect", to_dict(result)), args.output)
    else:
        emit(render_text(result) + (f"wrote {args.html}\n" if args.html else ""), args.output)
    return 0


def _gradients(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from netanatomy.charlm.checkpoint import load_model
    from netanatomy.charlm.corpus import Vocabulary
    from netanatomy.charlm.gradflow import (
        GradientFlow,
        equal_budget,
        gradient_flow,
        plot_flows,
        recurrent_spectrum,
        sample_windows,
    )
    from netanatomy.charlm.surprisal import encode_passage, run_text
    from netanatomy.devices import pick_device, set_threads
    from netanatomy.errors import UnknownNameError, UserError, close_names
    from netanatomy.zoo.charrnn import CharRNNConfig, build_char_model

    set_threads(args.threads)
    device = pick_device(args.device)
    if args.lags < 1 or args.batch_size < 1:
        raise UserError("--lags and --batch-size must be at least 1")
    ckpts = list(args.ckpts) + ([args.checkpoint] if args.checkpoint else [])
    if ckpts and args.model:
        raise UserError("give checkpoints or --model, not both (a checkpoint is measured trained and at initialisation)")
    gen = torch.Generator().manual_seed(args.seed)

    def windows(tokens: np.ndarray) -> torch.Tensor:
        return sample_windows(tokens, args.lags, args.batch_size, gen)

    def text_tokens(vocab: Vocabulary) -> np.ndarray:
        from pathlib import Path

        p = Path(args.text)
        if not p.is_file():
            raise UserError(f"no such file: {p}")
        return encode_passage(p.read_text(encoding="utf-8"), vocab, source=str(p))

    rows: list[dict[str, Any]] = []
    flows: list[GradientFlow] = []

    def measure(model: torch.nn.Module, label: str, tokens: torch.Tensor, info: dict[str, Any]) -> None:
        flow = gradient_flow(model, tokens, label=label)
        flows.append(flow)
        rows.append({**info, "label": label, "flow": flow,
                     "spectrum": [vars(s) for s in recurrent_spectrum(model)]})

    notes: list[str] = []
    if ckpts:
        for ck in ckpts:
            model, vocab, state = load_model(ck, device)
            cfg = state["model_config"]
            if args.text:
                source = text_tokens(vocab)
            else:
                try:
                    source = np.asarray(run_text(state, ck).corpus.val)
                except UserError as exc:
                    notes.append(f"{ck}: {exc}; measured on uniform random characters")
                    source = torch.randint(0, vocab.size, (args.lags * args.batch_size + 1,), generator=gen).numpy()
            tokens = windows(source)
            name = cfg["cell"].upper()
            params = sum(p.numel() for p in model.parameters())
            info = {"cell": cfg["cell"], "hidden_size": cfg["hidden_size"], "num_layers": cfg["num_layers"], "params": params}
            measure(model, f"{name} trained ({ck})", tokens, info)
            torch.manual_seed(args.seed)
            measure(build_char_model(cfg).to(device), f"{name} init", tokens, info)
    else:
        names = args.model or ["char_rnn", "char_lstm", "char_gru"]
        for n in names:
            if n not in _ZOO_CELLS:
                raise UnknownNameError(f"{n!r} is not a char model;{close_names(n, list(_ZOO_CELLS))} "
                                       f"Known: {', '.join(_ZOO_CELLS)}")
        cells = [_ZOO_CELLS[n] for n in names]
        if args.text:
            from pathlib import Path

            p = Path(args.text)
            if not p.is_file():
                raise UserError(f"no such file: {p}")
            content = p.read_text(encoding="utf-8")
            vocab = Vocabulary(chars=tuple(sorted(set(content))))
            source = encode_passage(content, vocab)
            vocab_size = vocab.size
        else:
            vocab_size = args.vocab_size
            source = torch.randint(0, vocab_size, (args.lags * args.batch_size + 1,), generator=gen).numpy()
        reference = "lstm" if "lstm" in cells else cells[0]
        budget = equal_budget(cells, reference, args.hidden_size, vocab_size, args.num_layers)
        tokens = windows(source)
        for cell in cells:
            torch.manual_seed(args.seed)
            model = build_char_model(CharRNNConfig(cell=cell, vocab_size=vocab_size, hidden_size=budget.hidden[cell],
                                                   num_layers=args.num_layers)).to(device)
            measure(model, f"{cell.upper()} init", tokens,
                    {"cell": cell, "hidden_size": budget.hidden[cell], "num_layers": args.num_layers,
                     "params": budget.params[cell]})
    if args.output:
        plot_flows(flows, args.output, title=f"gradient flow through time ({args.batch_size} sequences of {args.lags})")
    marks = [k for k in (10, 25, 50, 100) if k < args.lags]
    if args.format == "json":
        payload = {"lags": args.lags, "batch": args.batch_size, "seed": args.seed, "notes": notes, "models": [
            {k: v for k, v in r.items() if k != "flow"} | {
                "dh_over_lag1": {str(k): r["flow"].ratio(k) for k in marks},
                "dx_over_lag1": {str(k): r["flow"].ratio(k, of="dx") for k in marks},
                **r["flow"].to_dict()} for r in rows]}
        emit(json_text("charrnn.gradients", payload))
        return 0
    lines = [f"gradient of the last step's loss, mean over {args.batch_size} sequences of {args.lags}; "
             "h k / x k: the norm at lag k relative to lag 1"]
    head = f"{'model':<34} {'hidden':>6} {'params':>9}  {'‖∂L/∂h‖ lag 1':>13}  " + "  ".join(f"{'h ' + str(k):>8}" for k in marks) \
        + "  " + "  ".join(f"{'x ' + str(k):>8}" for k in marks)
    lines.append(head)
    for r in rows:
        f = r["flow"]
        lines.append(f"{r['label'][:34]:<34} {r['hidden_size']:>6} {r['params']:>9,}  {_fmt(float(f.dh[1]) if len(f.dh) > 1 else math.nan):>13}  "
                     + "  ".join(f"{_fmt(f.ratio(k)):>8}" for k in marks) + "  "
                     + "  ".join(f"{_fmt(f.ratio(k, of='dx')):>8}" for k in marks))
    for r in rows:
        for s in r["spectrum"]:
            # Pascanu et al. 2013, §2.1: σ_max < 1 suffices for vanishing; σ_max > 1 is needed to explode.
            verdict = ("> 1: exploding is possible, not certain" if s["sigma_max"] > 1
                       else "< 1: the gradient must vanish")
            lines.append(f"{r['label']}: W_hh layer {s['layer']}: spectral radius {s['spectral_radius']:.4f}, "
                         f"largest singular value {s['sigma_max']:.4f} ({verdict})")
    lines.extend(f"note: {n}" for n in notes)
    if args.output:
        lines.append(f"wrote {args.output}")
    emit("\n".join(lines))
    return 0


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3g}"


def experiment_recurrent(args: argparse.Namespace) -> int:
    """``experiment recurrent``: RNN vs GRU vs LSTM at one parameter and training budget."""
    from pathlib import Path

    from netanatomy.devices import set_threads
    from netanatomy.errors import UserError
    from netanatomy.training.config import RecurrentConfig, default_of
    from netanatomy.training.experiments.recurrent import run_recurrent

    set_threads(args.threads)
    text = args.text
    if text is None:
        from netanatomy.charlm.fetch import cache_dir

        default = Path(cache_dir(None)) / "shakespeare.txt"
        if not default.is_file():
            raise UserError("give a text with --text FILE, or fetch one first with `netanatomy data shakespeare`")
        text = str(default)
    by_time = args.max_time is not None
    steps = args.steps if args.steps is not None else (10**9 if by_time else default_of(RecurrentConfig, "steps"))
    cfg = RecurrentConfig(
        text=text, out_dir=args.run_dir or default_of(RecurrentConfig, "out_dir"),
        cells=tuple(c.strip() for c in args.cells.split(",") if c.strip()), hidden_size=args.hidden_size,
        num_layers=args.num_layers, steps=steps, max_time_s=args.max_time or 0.0, seq_len=args.seq_len,
        batch_size=default_of(RecurrentConfig, "batch_size") if args.batch_size is None else args.batch_size,
        lr=default_of(RecurrentConfig, "lr") if args.lr is None else args.lr, lags=args.lags, seed=args.seed,
        device=args.device,
    )
    if args.format == "json":
        from netanatomy.cli.common import progress_to_stderr

        with progress_to_stderr(True):
            report = run_recurrent(cfg, log=lambda line: print(line, file=sys.stderr))
        files = sorted(str(f.relative_to(cfg.out_dir)) for f in Path(cfg.out_dir).glob("*") if f.is_file())
        print(json_text("experiment", {"experiment": "recurrent", "run_dir": cfg.out_dir, "files": files,
                                       "report_markdown": report}), end="")
    else:
        print(run_recurrent(cfg))
    return 0
