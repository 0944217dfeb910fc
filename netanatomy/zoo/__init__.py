"""The model zoo of CS231n Lectures 9 and 10: one file per family, found through the registry."""

from netanatomy.zoo.registry import ModelInfo, create_model, get_model_info, list_models, register_model

__all__ = ["ModelInfo", "create_model", "get_model_info", "list_models", "register_model"]
