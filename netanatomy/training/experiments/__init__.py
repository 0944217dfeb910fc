"""The lecture's experiments, one module each: degradation, gap, bottleneck.

``EXPERIMENTS`` is the table the command line reads (names and what each shows); it imports nothing
heavy, so that ``netanatomy experiment --help`` stays fast.
"""

from __future__ import annotations

from netanatomy.errors import UnknownNameError, close_names

#: name -> what the experiment shows (one line, for --help and the list of names).
EXPERIMENTS: dict[str, str] = {
    "degradation": "plain vs residual nets at two depths (He et al. 2016 Fig. 6)",
    "gap": "global-average-pooling head vs flatten+FC head (Lin et al. 2014)",
    "bottleneck": "the Inception module naive vs with 1x1 reductions (Szegedy et al. 2015)",
    "recurrent": "vanilla RNN vs GRU vs LSTM at equal parameters: bits/char and gradient flow (Lecture 10)",
}


def check_experiment(name: str) -> str:
    """``name`` if it is an experiment, else an :class:`UnknownNameError` naming the close ones."""
    if name not in EXPERIMENTS:
        raise UnknownNameError(f"unknown experiment {name!r}.{close_names(name, tuple(EXPERIMENTS))} "
                               f"Known: {', '.join(EXPERIMENTS)}.")
    return name
