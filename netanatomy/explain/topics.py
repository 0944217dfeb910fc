"""The topics of ``netanatomy explain`` as data: name, the notes' page, the options each takes.

Torch-free on purpose: the CLI builds its parser from this table without importing torch. The
function that computes each topic is named by its import path and loaded only when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netanatomy.errors import UnknownNameError, close_names


@dataclass(frozen=True)
class Option:
    """A topic's own option: ``--name`` on the command line, ``name`` (with ``_``) in Python."""

    flag: str
    type: type
    default: object
    help: str
    metavar: str = ""

    @property
    def dest(self) -> str:
        return self.flag.replace("-", "_")


@dataclass(frozen=True)
class Topic:
    """One question of the study notes and where its answer is computed."""

    name: str
    page: str  # where the notes ask it: a slide page of the lectures, or a minute of the video
    compute: str  # "module:function", called with the resolved model (or None) and the options
    takes_model: bool = False
    takes_layer: bool = False
    options: tuple[Option, ...] = field(default=())


_CNN = "netanatomy.explain.cnn"
_RNN = "netanatomy.explain.rnn"

TOPICS: tuple[Topic, ...] = (
    Topic("params", "p30", f"{_CNN}:params", takes_model=True, takes_layer=True),
    Topic("receptive-field", "p30", f"{_CNN}:receptive_field", takes_model=True, takes_layer=True, options=(
        Option("kernel", int, 3, "kernel size k of each stacked conv (default 3)", "K"),
        Option("stride", int, 1, "stride s of each stacked conv (default 1)", "S"),
        Option("layers", int, 3, "how many convs are stacked (default 3)", "N"),
        Option("channels", int, 64, "channels C in and out, for the weight comparison (default 64)", "C"),
    )),
    Topic("conv1x1", "p52, p55", f"{_CNN}:conv1x1", options=(
        Option("size", int, 56, "height = width of the feature map (default 56)", "H"),
        Option("in-channels", int, 64, "input depth (default 64)", "C"),
        Option("out-channels", int, 32, "number of 1x1 filters (default 32)", "F"),
    )),
    Topic("bottleneck", "p55", f"{_CNN}:bottleneck"),
    Topic("residual", "p72", f"{_CNN}:residual", options=(
        Option("report", str, None, "degradation.md written by `netanatomy experiment degradation` (or its folder)", "PATH"),
    )),
    Topic("gap", "p76", f"{_CNN}:gap", takes_model=True),
    Topic("nin", "p92", f"{_CNN}:nin"),
    Topic("rnn-weights", "L10 p26", f"{_RNN}:rnn_weights", options=(
        Option("steps", int, 1000, "the long sequence length T to compare with T = 1 (default 1000)", "T"),
    )),
    Topic("sampling", "L10 p38", f"{_RNN}:sampling", options=(
        Option("scores", str, "h=1.0,e=2.2,l=-3.0,o=4.1", "scores of the output layer, CHAR=SCORE,... (default: the slide's)", "SCORES"),
        Option("draws", int, 1000, "how many characters to draw for the counts (default 1000)", "N"),
    )),
    Topic("markov", "L10 30:00", f"{_RNN}:markov", options=(
        Option("gap", int, 6, "digits between the key and its recall in the demo text (default 6)", "G"),
        Option("steps", int, 600, "LSTM training steps of the demo (default 600, a few seconds)", "N"),
        Option("run-dir", str, None, "keep the demo's files (text, LSTM checkpoint, plot) in DIR (default: a temporary folder)", "DIR"),
        Option("checkpoint", str, None, "a trained char model (`netanatomy charrnn train --run-dir RUN`): measure its own reach instead of running the demo", "CKPT"),
    )),
    Topic("vgg-memory", "L9 VGG", f"{_CNN}:vgg_memory", takes_model=True),
    Topic("macs-flops", "L9", f"{_CNN}:macs_flops", takes_model=True),
)

_BY_NAME = {t.name: t for t in TOPICS}


def list_topics() -> list[str]:
    """The topic names, in the lectures' order."""
    return [t.name for t in TOPICS]


def get_topic(name: str) -> Topic:
    """The topic called ``name``; an unknown name raises with the nearest ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        near = close_names(name, list(_BY_NAME)) or f" Topics: {', '.join(_BY_NAME)}."
        raise UnknownNameError(f"no topic {name!r}.{near} (`netanatomy explain` lists them)") from None
