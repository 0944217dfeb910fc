"""netanatomy: exact anatomy of CNNs and RNNs, the CS231n Lecture 9/10 model zoo, and training.

The public API:

- :func:`summary` — per-layer shapes, parameters with formulas, MACs/FLOPs, memory;
- :func:`receptive_field` — receptive fields on the true computation graph;
- :func:`list_models` / :func:`create_model` — the model zoo;
- :class:`TensorSpec` — a placeholder input (shape and dtype) for ``summary(input_data=...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from netanatomy.capture.inputs import TensorSpec
    from netanatomy.zoo.registry import create_model, list_models


def __getattr__(name: str) -> Any:
    # Lazy, so `import netanatomy` stays cheap and `netanatomy --help` starts fast.
    if name in ("create_model", "list_models", "get_model_info"):
        from netanatomy.zoo import registry

        return getattr(registry, name)
    if name == "summary":
        from netanatomy.analysis.summary import summary

        return summary
    if name == "TensorSpec":
        from netanatomy.capture.inputs import TensorSpec

        return TensorSpec
    if name == "receptive_field":
        from netanatomy.receptive.engine import receptive_field

        return receptive_field
    raise AttributeError(f"module 'netanatomy' has no attribute {name!r}")


__all__ = ["TensorSpec", "__version__", "create_model", "list_models", "receptive_field", "summary"]
