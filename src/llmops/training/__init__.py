"""Fine-tuning: one training loop parameterised by recipe (SFT, DPO), tracked, resumable,
registered with lineage; and the built-in base model."""

from llmops.training.config import TrainConfig, make_config
from llmops.training.loop import TrainResult, resume, train
from llmops.training.recipes import RECIPES, Recipe, register_recipe

__all__ = ["RECIPES", "Recipe", "TrainConfig", "TrainResult", "make_config", "register_recipe",
           "resume", "train"]
