"""What a topic is asked: the model (resolved on demand, as ``netanatomy summary`` resolves it), the layer, options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netanatomy.explain.topics import Topic

if TYPE_CHECKING:
    from netanatomy.analysis.loading import ResolvedModel
    from netanatomy.analysis.records import Summary


@dataclass
class Request:
    """One call of a topic."""

    topic: Topic
    model_text: str | None
    layer: str | None
    input_text: str | None
    model_args: list[str]
    seed: int
    options: dict[str, Any] = field(default_factory=dict)

    def resolve(self, default: str, device: str = "meta") -> ResolvedModel:
        """The model the user named (or ``default``), resolved as ``netanatomy summary`` does
        (:func:`netanatomy.analysis.models.prepare_model`: sizes, per-input dtypes, builder arguments)."""
        from dataclasses import replace

        from netanatomy.analysis.loading import resolve_model
        from netanatomy.analysis.models import prepare_model

        name = self.model_text or default
        if device != "meta":  # a real model (its weights are used): built as summary would, on that device
            p = prepare_model(name, self.input_text, kwargs=self.model_args)
            return replace(resolve_model(name, p.input_sizes, p.resolved_kwargs, device=device),
                           input_sizes=p.input_sizes, input_dtypes=p.input_dtypes)
        p = prepare_model(name, self.input_text, kwargs=self.model_args)
        return replace(p.resolved, input_sizes=p.input_sizes, input_dtypes=p.input_dtypes)

    def summary(self, resolved: ResolvedModel, receptive_fields: bool = False) -> Summary:
        """``netanatomy.summary`` of a resolved model at its input size (eval mode)."""
        from netanatomy.analysis.summary import summary

        sizes = resolved.input_sizes
        dtypes = resolved.input_dtypes[: len(sizes)] + resolved.input_dtypes[-1:] * (len(sizes) - len(resolved.input_dtypes))
        return summary(resolved.model, sizes, input_dtypes=dtypes, model_name=resolved.name,
                       receptive_fields=receptive_fields and resolved.spatial)

    def option(self, name: str) -> Any:
        return self.options[name]

    def positive(self, name: str, limit: int | None = None) -> int:
        """An integer option that must be at least 1 (and at most ``limit``)."""
        from netanatomy.errors import UserError

        value = int(self.options[name])
        if value < 1 or (limit is not None and value > limit):
            bound = f" and at most {limit}" if limit is not None else ""
            raise UserError(f"--{name.replace('_', '-')} must be at least 1{bound}, got {value}")
        return value
