"""``netanatomy explain``: the study group's questions answered by computation, on the user's model.

Each topic (:mod:`netanatomy.explain.topics`) computes its numbers at run time with the project's
own engines (the analyzer, the receptive-field engine, the zoo, the char-RNN code) or a small
torch computation that the answer shows, and returns an :class:`~netanatomy.explain.answer.Answer`
that renders in any language with a catalogue (:mod:`netanatomy.explain.messages`) as text,
Markdown or a JSON-ready dict::

    from netanatomy.explain import explain
    answer = explain("params", "resnet50", layer="layer1.0.conv2")
    print(answer.to_text("ko"))
"""

from __future__ import annotations

import importlib
from typing import Any

from netanatomy.errors import UserError
from netanatomy.explain.answer import Answer
from netanatomy.explain.messages import catalogue, languages
from netanatomy.explain.request import Request
from netanatomy.explain.topics import TOPICS, Topic, get_topic, list_topics

__all__ = ["TOPICS", "Answer", "Request", "Topic", "catalogue", "explain", "get_topic", "languages", "list_topics"]


def explain(
    topic: str,
    model: str | None = None,
    *,
    layer: str | None = None,
    input_size: str | None = None,
    model_args: list[str] | None = None,
    seed: int = 0,
    **options: Any,
) -> Answer:
    """Compute the answer to ``topic``.

    Args:
        topic: a topic name (:func:`list_topics`), e.g. ``"receptive-field"``.
        model: what ``netanatomy summary`` accepts as MODEL (a zoo name, a spec such as
            ``conv3-64*3``, ``torchvision:NAME``, ``file.py:factory``); topics without a model
            use their lecture default.
        layer: a module path of ``model`` (topics that explain one layer).
        input_size: ``NxCxHxW`` (default: the model's own).
        model_args: ``name=value`` keyword arguments for the model's builder.
        seed: seed of the small random computations an answer shows.
        options: the topic's own options (:attr:`Topic.options`), by their Python names.

    Raises:
        UserError: an unknown topic, layer or option, or a model that lacks what the topic needs.
    """
    t = get_topic(topic)
    if model is not None and not t.takes_model:
        raise UserError(f"topic {t.name!r} takes no MODEL (it uses the lecture's own sizes); "
                        f"topics that take one: {', '.join(x.name for x in TOPICS if x.takes_model)}")
    if layer is not None and not t.takes_layer:
        raise UserError(f"topic {t.name!r} takes no --layer; topics that do: {', '.join(x.name for x in TOPICS if x.takes_layer)}")
    known = {o.dest: o for o in t.options}
    for key in options:
        if key not in known:
            mine = ", ".join(f"--{o.flag}" for o in t.options) or "none"
            raise UserError(f"topic {t.name!r} has no option --{key.replace('_', '-')} (its options: {mine})")
    values = {dest: options.get(dest, o.default) for dest, o in known.items()}
    values = {dest: (known[dest].default if v is None else v) for dest, v in values.items()}
    module, _, function = t.compute.partition(":")
    compute = getattr(importlib.import_module(module), function)
    request = Request(topic=t, model_text=model, layer=layer, input_text=input_size,
                      model_args=list(model_args or []), seed=seed, options=values)
    answer: Answer = compute(request)
    return answer
