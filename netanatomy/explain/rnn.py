"""The Lecture 10 topics: shared RNN weights and their gradient, sampling, the Markov assumption.

Every figure is computed here at run time: parameter counts by the analyzer on the zoo's char
models, gradients by autograd on a small RNN whose per-step terms the answer adds up, softmax and
draws by a few lines of torch shown in the answer, and the Markov figures by a short run of the
project's own demo (:mod:`netanatomy.charlm.markov`).
"""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from netanatomy.errors import UserError
from netanatomy.explain.answer import Answer, Cell, Msg
from netanatomy.explain.request import Request


def _answer(req: Request, more: str) -> Answer:
    return Answer(topic=req.topic.name, page=req.topic.page, more=more)


# --------------------------------------------------------------------------------------------
# rnn-weights [p26]

HELLO = "hello"
HELLO_VOCAB = ("h", "e", "l", "o")


def hello_gradients(seed: int = 0, hidden: int = 3) -> tuple[dict[str, torch.Tensor], torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """The lecture's "hello" RNN (float64): its matrices, autograd's dL/dW_hh, each step's term, dL/dx.

    Each step t gets its own copy W_hh^(t) of the one matrix, so that autograd reports the term of
    step t separately (dL/dW_hh^(t)); the true gradient of the shared W_hh is their sum
    (backpropagation through time: the chain rule adds the contributions of every use).
    """
    gen = torch.Generator().manual_seed(seed)
    v = len(HELLO_VOCAB)
    mats = {
        "W_xh": torch.randn(hidden, v, generator=gen, dtype=torch.float64) * 0.5,
        "W_hh": torch.randn(hidden, hidden, generator=gen, dtype=torch.float64) * 0.5,
        "b_h": torch.zeros(hidden, dtype=torch.float64),
        "W_hy": torch.randn(v, hidden, generator=gen, dtype=torch.float64) * 0.5,
        "b_y": torch.zeros(v, dtype=torch.float64),
    }
    ids = [HELLO_VOCAB.index(c) for c in HELLO]
    xs = F.one_hot(torch.tensor(ids[:-1]), v).to(torch.float64).requires_grad_(True)
    targets = torch.tensor(ids[1:])

    def loss_of(w_hh_per_step: list[torch.Tensor]) -> torch.Tensor:
        h = torch.zeros(hidden, dtype=torch.float64)
        loss = torch.zeros((), dtype=torch.float64)
        for t, w in enumerate(w_hh_per_step):
            h = torch.tanh(mats["W_xh"] @ xs[t] + w @ h + mats["b_h"])
            y = mats["W_hy"] @ h + mats["b_y"]
            loss = loss + F.cross_entropy(y[None], targets[t : t + 1])
        return loss

    shared = mats["W_hh"].clone().requires_grad_(True)
    loss_of([shared] * len(targets)).backward()
    assert shared.grad is not None and xs.grad is not None
    copies = [mats["W_hh"].clone().requires_grad_(True) for _ in targets]
    loss_of(copies).backward()
    terms = [c.grad for c in copies if c.grad is not None]
    return mats, shared.grad, terms, xs.grad


def hello_forward(mats: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    """The unrolled forward pass over "hell": (h_t, y_t, the step's cross-entropy) for each t."""
    v, hidden = len(HELLO_VOCAB), mats["W_hh"].shape[0]
    ids = [HELLO_VOCAB.index(c) for c in HELLO]
    h = torch.zeros(hidden, dtype=torch.float64)
    out = []
    with torch.no_grad():
        for t in range(len(HELLO) - 1):
            x = F.one_hot(torch.tensor(ids[t]), v).to(torch.float64)
            h = torch.tanh(mats["W_xh"] @ x + mats["W_hh"] @ h + mats["b_h"])
            y = mats["W_hy"] @ h + mats["b_y"]
            out.append((h, y, float(F.cross_entropy(y[None], torch.tensor([ids[t + 1]])))))
    return out


def rnn_weights(req: Request) -> Answer:
    """One W_hh, W_xh, W_hy at every step: parameters for 1 and T steps, and BPTT's sum."""
    from netanatomy.analysis.loading import resolve_model
    from netanatomy.analysis.summary import summary

    steps = req.positive("steps", 100_000)
    a = _answer(req, "netanatomy charrnn hello")
    a.num("T", steps)
    a.num("one", 1)
    rows: list[tuple[Cell, ...]] = []
    for name in ("char_rnn", "char_lstm", "char_gru"):
        # One layer: the lecture's picture, and half the ops to capture at T = 1,000 (each time step
        # of each layer is a dozen ops on the analyzer's fake tensors).
        r = resolve_model(name, kwargs={"num_layers": 1})
        counts = {}
        for t in (1, steps):
            s = summary(r.model, [(1, t)], input_dtypes=[torch.int64], receptive_fields=False)
            counts[t] = (s.totals.params, s.totals.macs)
        rows.append((name, a.num(f"{name}.params_1", counts[1][0]), a.num(f"{name}.params_T", counts[steps][0]),
                     a.num(f"{name}.macs_1", counts[1][1]), a.num(f"{name}.macs_T", counts[steps][1])))
    a.say("rnn.intro")
    a.table((Msg("h.model"), Msg("h.params_1"), Msg("h.params_T"), Msg("h.macs_1"), Msg("h.macs_T")), rows)
    a.say("rnn.same_count")

    hidden = 3
    mats, grad, terms, grad_x = hello_gradients(req.seed, hidden)
    a.num("H", hidden)
    a.num("seed", req.seed)
    a.num("V", len(HELLO_VOCAB))
    a.num("steps_hello", len(terms))
    total = torch.stack(terms).sum(0)
    a.num("grad_norm", float(grad.norm()), digits=4)
    a.num("sum_norm", float(total.norm()), digits=4)
    a.num("max_diff", float((total - grad).abs().max()), sci=True)
    rows = []
    for t, term in enumerate(terms, 1):
        rows.append((a.num(f"t{t}", t), f"'{HELLO[t - 1]}' -> '{HELLO[t]}'", a.num(f"term{t}", float(term.norm()), digits=4)))
    a.num("x_grad_rows", grad_x.shape[0])
    a.num("x_grad_cols", grad_x.shape[1])
    unrolled: list[tuple[Cell, ...]] = []
    for t, (h, _y, ce) in enumerate(hello_forward(mats), 1):
        hs = [a.num(f"h{t}.{k}", float(h[k]), digits=3) for k in range(hidden)]
        unrolled.append((str(t), f"'{HELLO[t - 1]}'", "[" + ", ".join(hs) + "]", f"'{HELLO[t]}'", a.num(f"loss{t}", ce, digits=3)))
    repeated = [t for t in range(1, len(HELLO)) if HELLO[t - 1] == "l"]  # 'l' is read twice
    a.num("t_l1", repeated[0])
    a.num("t_l2", repeated[1])
    a.say("rnn.unrolled")
    a.table((Msg("h.step"), "x_t", "h_t", Msg("h.target"), Msg("h.loss")), unrolled)
    a.say("rnn.hello")
    a.code("h_t = tanh(W_xh x_t + W_hh h_(t-1) + b_h)    y_t = W_hy h_t + b_y    L = Σ_t CE(y_t, target_t)",
           "dL/dW_hh = Σ_t dL/dW_hh^(t)")
    a.table((Msg("h.step"), Msg("h.char"), Msg("h.term_norm")), rows)
    a.code(f"‖Σ_t dL/dW_hh^(t)‖ = {a.texts['sum_norm']}    ‖autograd dL/dW_hh‖ = {a.texts['grad_norm']}",
           f"max |Σ_t terms - autograd| = {a.texts['max_diff']}")
    a.say("rnn.first_step", "rnn.not_x")
    return a


# --------------------------------------------------------------------------------------------
# sampling [p38]

#: The notes' memory of the slide's probabilities (p38: "h 0%, e 18%, l 2%, o 80%"), quoted to
#: set it beside what the scores give.
NOTES_PERCENTS = {"h": "0%", "e": "18%", "l": "2%", "o": "80%"}
SLIDE_SCORES = "h=1.0,e=2.2,l=-3.0,o=4.1"


def parse_scores(text: str) -> list[tuple[str, float]]:
    """``"h=1.0,e=2.2"`` -> ``[("h", 1.0), ("e", 2.2)]``; one character per score."""
    out: list[tuple[str, float]] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\S)\s*=\s*([-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)\s*", part)
        if m is None:
            raise UserError(f"malformed --scores {text!r}: write CHAR=SCORE pairs separated by commas, e.g. {SLIDE_SCORES}")
        out.append((m[1], float(m[2])))
    chars = [c for c, _ in out]
    if len(out) < 2 or len(set(chars)) != len(chars):
        raise UserError(f"--scores needs at least two different characters, each once; got {text!r}")
    return out


def softmax(scores: list[float], temperature: float = 1.0, top_k: int | None = None) -> list[float]:
    """exp(s/T) / Σ exp(s/T), over the top_k highest scores only when top_k is given."""
    keep = sorted(range(len(scores)), key=lambda i: -scores[i])[: top_k or len(scores)]
    m = max(scores[i] for i in keep) / temperature
    e = [math.exp(s / temperature - m) if i in keep else 0.0 for i, s in enumerate(scores)]
    z = sum(e)
    return [x / z for x in e]


def sampling(req: Request) -> Answer:
    """Scores -> softmax -> a seeded draw; temperature and top-k."""
    pairs = parse_scores(req.option("scores"))
    draws = req.positive("draws", 10_000_000)
    chars = [c for c, _ in pairs]
    scores = [s for _, s in pairs]
    a = _answer(req, "netanatomy charrnn sample RUN_DIR --explain --temperature 0.8 --top-k 20")
    p = softmax(scores)
    a.name("chars", ", ".join(chars))
    rows: list[tuple[Cell, ...]] = []
    for i, (c, s) in enumerate(pairs):
        rows.append((c, a.num(f"score.{i}", s, digits=1), a.num(f"exp.{i}", math.exp(s), digits=3), a.num(f"p.{i}", p[i], digits=4)))
    a.num("exp_sum", sum(math.exp(s) for s in scores), digits=3)
    order = sorted(range(len(p)), key=lambda i: -p[i])
    best, second = order[0], order[1]
    a.name("best", chars[best])
    a.name("second", chars[second])
    a.num("p_best", p[best], digits=2)
    a.num("p_second", p[second], digits=2)
    a.say("sampling.intro")
    a.code("p_i = exp(s_i) / Σ_j exp(s_j)")
    a.table((Msg("h.char"), Msg("h.score"), Msg("h.exp"), Msg("h.prob")), rows)
    a.say("sampling.read")
    if req.option("scores") == SLIDE_SCORES:
        for c, text in NOTES_PERCENTS.items():
            a.name(f"notes_{c}", text)
        a.say("sampling.notes")
    # The draw: u ~ U(0, 1); the character whose cumulative interval holds u (inverse CDF).
    gen = torch.Generator().manual_seed(req.seed)
    us = torch.rand(draws, generator=gen, dtype=torch.float64).tolist()
    cum = [sum(p[: i + 1]) for i in range(len(p))]

    def draw(u: float) -> int:
        return next((i for i, c in enumerate(cum) if u < c), len(cum) - 1)

    counts = [0] * len(p)
    for u in us:
        counts[draw(u)] += 1
    first = draw(us[0])
    a.num("u", us[0], digits=4)
    a.name("drawn", chars[first])
    a.num("draws", draws)
    a.num("seed", req.seed)
    intervals = []
    lo = 0.0
    for i, c in enumerate(chars):
        intervals.append(f"{c}: [{a.num(f'cum_lo.{i}', lo, digits=4)}, {a.num(f'cum_hi.{i}', cum[i], digits=4)})")
        lo = cum[i]
    a.say("sampling.draw")
    a.code("   ".join(intervals), f"u = {a.texts['u']}  ->  '{chars[first]}'")
    a.say("sampling.counts")
    a.table((Msg("h.char"), Msg("h.prob"), Msg("h.count")),
            [(c, a.texts[f"p.{i}"], a.num(f"count.{i}", counts[i])) for i, c in enumerate(chars)])
    # Temperature and top-k.
    settings = [("T=0.5", 0.5, None), ("T=1", 1.0, None), ("T=2", 2.0, None), ("T=1, top-k=2", 1.0, 2)]
    rows = []
    for label, t, k in settings:
        q = softmax(scores, t, k)
        rows.append((label, *(a.num(f"{label}.{i}", q[i], digits=3) for i in range(len(chars)))))
    a.say("sampling.temperature")
    a.table((Msg("h.setting"), *chars), rows)
    return a


# --------------------------------------------------------------------------------------------
# markov [30:00]


#: How far back a changed character is, in the reach measurement (1 = the last character read).
REACH_DISTANCES = (1, 2, 4, 8, 16, 32, 64)


def prediction_reach(model: torch.nn.Module, vocab_size: int, seed: int = 0,
                     distances: tuple[int, ...] = REACH_DISTANCES) -> dict[int, float]:
    """How much the next-character distribution moves when one character ``d`` back is changed.

    On a random string of ``max(distances)`` characters, replace the character ``d`` positions
    before the prediction by the next one in the vocabulary and measure the total variation
    distance ½·Σ|p − p'| between the two predictions. An order-n Markov model gives exactly 0 for
    every d ≥ n (the character is outside its context); an RNN's hidden state can make it non-zero
    at any distance.
    """
    length = max(distances)
    gen = torch.Generator().manual_seed(seed)
    base = torch.randint(0, vocab_size, (1, length), generator=gen)
    model.eval()
    out = {}
    with torch.no_grad():
        p = torch.softmax(model(base)[0][0, -1].double(), -1)
        for d in distances:
            changed = base.clone()
            changed[0, length - d] = (changed[0, length - d] + 1) % vocab_size
            q = torch.softmax(model(changed)[0][0, -1].double(), -1)
            out[d] = float(0.5 * (p - q).abs().sum())
    return out


def _say_reach(a: Answer, model: torch.nn.Module, vocab_size: int, seed: int, order: int) -> None:
    reach = prediction_reach(model, vocab_size, seed)
    a.num("reach_order", order)
    a.num("reach_length", max(REACH_DISTANCES))
    rows: list[tuple[Cell, ...]] = []
    for d, tv in reach.items():
        ngram = 0.0 if d >= order else None  # inside the window the n-gram's answer depends on its counts
        rows.append((a.num(f"reach{d}.distance", d), a.num(f"reach{d}.rnn", tv, sci=True, digits=2),
                     "—" if ngram is None else a.num(f"reach{d}.ngram", ngram, digits=1)))
    a.say("markov.reach")
    a.table((Msg("h.distance"), Msg("h.rnn_change"), Msg("h.ngram_change")), rows)


def markov(req: Request) -> Answer:
    """What an n-gram conditions on against an RNN's hidden state, with a short run of the demo."""
    from netanatomy.charlm.checkpoint import load_model
    from netanatomy.charlm.markov import MarkovDemoConfig, run_demo

    checkpoint = req.option("checkpoint")
    if checkpoint:
        return _markov_checkpoint(req, checkpoint)
    gap, steps = req.positive("gap", 200), req.positive("steps", 100_000)
    cfg = MarkovDemoConfig(gap=gap, records=500, orders=(3, 5), hidden_size=32, steps=steps, seq_len=32,
                           batch_size=16, lr=2e-2, eval_interval=max(1, steps // 3), seed=req.seed)
    a = _answer(req, f"netanatomy charrnn markov --gap {gap}")
    run_dir = req.option("run_dir")
    if run_dir:
        a.name("run_dir", str(run_dir))
        result = run_demo(cfg, run_dir)
        model, vocab, _ = load_model(Path(run_dir) / "lstm")
    else:
        with tempfile.TemporaryDirectory(prefix="netanatomy-markov-") as tmp:
            result = run_demo(cfg, Path(tmp))
            model, vocab, _ = load_model(Path(tmp) / "lstm")
    a.num("gap", gap)
    a.num("distance", gap + 1)
    a.num("keys", len(cfg.keys))
    a.num("chance", result.chance, digits=3)
    a.num("records", cfg.records)
    a.num("hidden", cfg.hidden_size)
    rows: list[tuple[Cell, ...]] = []
    for order in cfg.orders:
        a.num(f"order{order}.context", order - 1)
        rows.append((a.num(f"order{order}", order), a.num(f"order{order}.context_chars", order - 1),
                     a.num(f"ngram{order}.recall", result.ngram_recall[order], digits=3)))
    step, _, recall = result.lstm_curve[-1]
    a.num("lstm_steps", step)
    a.num("lstm_recall", recall, digits=3)
    a.name("orders", ", ".join(str(o) for o in cfg.orders))
    a.say("markov.intro", "markov.notes")
    a.code("Markov (order n):  P(x_t | x_1 .. x_(t-1)) = P(x_t | x_(t-n+1) .. x_(t-1))",
           "RNN:               h_t = f(h_(t-1), x_t),   P(x_t | x_1 .. x_(t-1)) = g(h_(t-1))")
    a.say("markov.rnn", "markov.demo")
    rows.append(("LSTM", "h_t", a.texts["lstm_recall"]))
    a.table((Msg("h.order"), Msg("h.context"), Msg("h.recall_loss")), rows)
    a.say("markov.read")
    _say_reach(a, model, vocab.size, req.seed, max(cfg.orders))
    return a


def _markov_checkpoint(req: Request, checkpoint: str) -> Answer:
    """The same question on the user's trained char model: how far back its prediction reaches."""
    from netanatomy.charlm.checkpoint import load_model

    model, vocab, _ = load_model(checkpoint)
    cfg = model.config
    a = _answer(req, f"netanatomy charrnn sample {checkpoint} --explain")
    a.name("checkpoint", str(checkpoint))
    a.name("cell", cfg.cell.upper())
    a.num("layers", cfg.num_layers)
    a.num("hidden", cfg.hidden_size)
    # An LSTM carries h and c per layer; RNN and GRU carry h only.
    a.num("state_values", cfg.num_layers * cfg.hidden_size * (2 if cfg.cell == "lstm" else 1))
    a.num("vocab", vocab.size)
    a.say("markov.intro", "markov.notes")
    a.code("Markov (order n):  P(x_t | x_1 .. x_(t-1)) = P(x_t | x_(t-n+1) .. x_(t-1))",
           "RNN:               h_t = f(h_(t-1), x_t),   P(x_t | x_1 .. x_(t-1)) = g(h_(t-1))")
    a.say("markov.rnn", "markov.checkpoint")
    _say_reach(a, model, vocab.size, req.seed, 3)
    return a
