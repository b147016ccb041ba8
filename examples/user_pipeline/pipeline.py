"""A training pipeline's last step, as a team might write it: register the new model, and make
it the champion if it beats the current one on the validation metric."""

from __future__ import annotations

from typing import Any

from registry_core import ModelRegistry, ModelVersion, NotFoundError


def register(registry: ModelRegistry, name: str, model: Any, auc: float) -> ModelVersion:
    """Saves `model` as the next version of `name` with its metric; moves the `champion`
    alias to it when its AUC is higher than the champion's (or there is none yet)."""
    version = registry.save_model(model, name, metrics={"auc": auc}, tags={"stage": "trained"})
    try:
        champion = registry.get_version(name, alias="champion")
    except NotFoundError:
        champion = None
    if champion is None or auc > champion.metrics["auc"]:
        registry.set_alias(name, "champion", version.version)
    return version
