"""The model zoo of CS231n Lectures 9 and 10: one file per family, found through the registry."""

from netanatomy.zoo.registry import (
    ModelCard,
    ModelInfo,
    Paper,
    create_model,
    get_model_info,
    list_families,
    list_models,
    model_table,
    register_model,
)

__all__ = [
    "ModelCard",
    "ModelInfo",
    "Paper",
    "create_model",
    "get_model_info",
    "list_families",
    "list_models",
    "model_table",
    "register_model",
]
