"""Hyperparameter search: Optuna studies over the training loop, stored beside the
metadata so workers on several machines, or Ray tasks, share one study."""

from llmops.tuning.objective import check_objective, objectives
from llmops.tuning.space import SearchSpace, load_space, make_space
from llmops.tuning.study import TrialResult, TuneResult, get_study, tune

__all__ = ["SearchSpace", "TrialResult", "TuneResult", "check_objective", "get_study",
           "load_space", "make_space", "objectives", "tune"]
