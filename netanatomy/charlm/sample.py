"""Sampling from a char model, with its working shown.

At test time the lecture feeds each sampled character back as the next input and draws the
next one from the softmax of the scores: it *samples*, it does not take the argmax, which is
why 'e' can come out when 'o' has the highest score. ``temperature`` divides the scores
before the softmax (0 means argmax), ``top_k`` keeps only the k highest scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from netanatomy.charlm.corpus import Vocabulary
from netanatomy.errors import UserError


def next_distribution(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None) -> torch.Tensor:
    """The probabilities the next character is drawn from (1-D ``logits`` of one position).

    Temperature 0 puts all the mass on the argmax (the first one on ties).
    """
    if temperature < 0:
        raise UserError(f"--temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise UserError(f"--top-k must be at least 1, got {top_k}")
    logits = logits.detach().double()
    if temperature == 0:
        probs = torch.zeros_like(logits)
        probs[int(torch.argmax(logits))] = 1.0
        return probs
    scaled = logits / temperature
    if top_k is not None and top_k < scaled.numel():
        kth = torch.topk(scaled, top_k).values[-1]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    return torch.softmax(scaled, dim=-1)


@dataclass
class Step:
    """One generated character: the distribution it was drawn from and the draw."""

    probs: torch.Tensor  # 1-D, float64, on the CPU
    drawn: int


def generate(
    model: nn.Module,
    vocab: Vocabulary,
    prime: str,
    length: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
    device: torch.device | str = "cpu",
    on_step: Callable[[Step], None] | None = None,
) -> str:
    """Generate ``length`` characters after ``prime``.

    Args:
        model: forward ``(idx, h) -> (logits, h)``.
        vocab: the model's vocabulary; characters of ``prime`` outside it raise a UserError.
        prime: text fed first (warms up the hidden state); empty starts from a random symbol.
        length: characters to generate.
        temperature: divides the scores before the softmax; 0 = argmax.
        top_k: sample only among the k most probable characters.
        seed: makes the draws reproducible.
        device: where the model is.
        on_step: called with every generated character's :class:`Step` (``--explain``).
    """
    if length < 0:
        raise UserError(f"--length must be >= 0, got {length}")
    gen = torch.Generator()
    if seed is not None:
        gen.manual_seed(seed)
    ids = vocab.encode(prime).tolist() if prime else [int(torch.randint(vocab.size, (1,), generator=gen))]
    was_training = model.training
    model.eval()  # no dropout while sampling; the caller's mode comes back below
    out: list[int] = []
    try:
        with torch.no_grad():
            logits, h = model(torch.tensor([ids], dtype=torch.int64, device=device))
            for _ in range(length):
                probs = next_distribution(logits[0, -1].cpu(), temperature, top_k)
                drawn = int(torch.multinomial(probs, 1, generator=gen)) if temperature > 0 else int(torch.argmax(probs))
                out.append(drawn)
                if on_step is not None:
                    on_step(Step(probs=probs, drawn=drawn))
                logits, h = model(torch.tensor([[drawn]], dtype=torch.int64, device=device), h)
    finally:
        model.train(was_training)
    return (prime if prime else vocab.decode(ids)) + vocab.decode(out)


def explain_line(step: Step, vocab: Vocabulary, index: int, top: int = 5) -> str:
    """``  12  drew 'e' (p=0.213, rank 2)   'o' 0.402  'e' 0.213  ...`` for one step."""
    k = min(top, step.probs.numel())
    values, order = torch.topk(step.probs, k)
    rank = int((step.probs > step.probs[step.drawn]).sum()) + 1
    cands = "  ".join(f"{vocab.symbol(int(i)):>6} {float(v):.3f}" for v, i in zip(values, order))
    return f"{index:4d}  drew {vocab.symbol(step.drawn):>6} (p={float(step.probs[step.drawn]):.3f}, rank {rank})  | {cands}"


#: The temperatures of the table: sharper than the model, the model itself, flatter.
TABLE_TEMPERATURES: tuple[float, ...] = (0.5, 1.0, 1.5)


@dataclass
class TemperatureSample:
    """One row of the temperature table: a sample and how uncertain each of its draws was."""

    temperature: float
    text: str
    #: Mean over the generated characters of the entropy H(p_t) = -sum_i p_t,i ln p_t,i of the
    #: softmax each one was drawn from (at this temperature), in nats and in bits.
    entropy_nats: float
    entropy_bits: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def entropy_nats(probs: torch.Tensor) -> float:
    """Shannon entropy of one distribution in nats (0 ln 0 = 0)."""
    p = probs.double()
    p = p[p > 0]
    return float(-(p * p.log()).sum())


def temperature_table(
    model: nn.Module,
    vocab: Vocabulary,
    prime: str = "",
    length: int = 200,
    *,
    temperatures: Sequence[float] = TABLE_TEMPERATURES,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> list[TemperatureSample]:
    """A sample per temperature (same prime, same seed), with the entropy per character.

    Dividing the scores by T < 1 sharpens the softmax (safer, repetitive text, lower entropy);
    T > 1 flattens it towards uniform (more surprising text, more spelling mistakes). The
    entropy is that of the distribution each character was actually drawn from, so the table
    shows the trade-off in numbers, not only in the text. The model's train/eval mode is kept.
    Each sample draws from its own generator seeded with ``seed``: the global RNG is untouched.
    """
    if length < 1:
        raise UserError(f"the temperature table needs at least 1 character per sample, got {length}")
    rows = []
    for t in temperatures:
        if t <= 0:
            raise UserError(f"temperatures of the table must be > 0, got {t}")
        entropies: list[float] = []

        def record(step: Step, out: list[float] = entropies) -> None:
            out.append(entropy_nats(step.probs))

        text = generate(model, vocab, prime, length, temperature=t, seed=seed, device=device, on_step=record)
        mean = sum(entropies) / len(entropies)
        rows.append(TemperatureSample(temperature=float(t), text=text, entropy_nats=mean, entropy_bits=mean / math.log(2)))
    return rows
