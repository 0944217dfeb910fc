"""Sampling from a char model, with its working shown.

At test time the lecture feeds each sampled character back as the next input and draws the
next one from the softmax of the scores: it *samples*, it does not take the argmax, which is
why 'e' can come out when 'o' has the highest score. ``temperature`` divides the scores
before the softmax (0 means argmax), ``top_k`` keeps only the k highest scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    model.eval()
    out: list[int] = []
    with torch.no_grad():
        logits, h = model(torch.tensor([ids], dtype=torch.int64, device=device))
        for _ in range(length):
            probs = next_distribution(logits[0, -1].cpu(), temperature, top_k)
            drawn = int(torch.multinomial(probs, 1, generator=gen)) if temperature > 0 else int(torch.argmax(probs))
            out.append(drawn)
            if on_step is not None:
                on_step(Step(probs=probs, drawn=drawn))
            logits, h = model(torch.tensor([[drawn]], dtype=torch.int64, device=device), h)
    return (prime if prime else vocab.decode(ids)) + vocab.decode(out)


def explain_line(step: Step, vocab: Vocabulary, index: int, top: int = 5) -> str:
    """``  12  drew 'e' (p=0.213, rank 2)   'o' 0.402  'e' 0.213  ...`` for one step."""
    k = min(top, step.probs.numel())
    values, order = torch.topk(step.probs, k)
    rank = int((step.probs > step.probs[step.drawn]).sum()) + 1
    cands = "  ".join(f"{vocab.symbol(int(i)):>6} {float(v):.3f}" for v, i in zip(values, order))
    return f"{index:4d}  drew {vocab.symbol(step.drawn):>6} (p={float(step.probs[step.drawn]):.3f}, rank {rank})  | {cands}"
