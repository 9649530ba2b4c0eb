"""MMEngine hooks of this project (registered in the root ``HOOKS``
registry, so configs of any scope can name them in ``custom_hooks``)."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..models.folding import switch_model_to_deploy


@HOOKS.register_module()
class SwitchToDeployHook(Hook):
    """Switch the model to deploy mode before testing, once the runner has
    loaded the checkpoint.  Our tools add it when a config sets ``deploy =
    True`` (or with ``--deploy``); in stock mm tools add it yourself:
    ``custom_hooks = [dict(type='SwitchToDeployHook')]``."""

    priority = 'VERY_HIGH'

    def before_test(self, runner) -> None:
        switch_model_to_deploy(runner.model)  # wrappers included


@HOOKS.register_module()
class ReseedHook(Hook):
    """Seed Python, numpy and torch from ``(seed, epoch)`` before every
    epoch and from ``(seed, iteration)`` before every iteration.

    MMEngine seeds once when the runner starts, so a resumed run draws
    different random numbers (drop path, augmentation in the main process)
    than the run it continues.  With this hook every step's randomness
    depends only on where the step is: a run killed and resumed ends with
    the same weights as one never interrupted (tested), given
    ``persistent_workers=False`` so that data workers restart each epoch
    from their seeds in both.
    """

    priority = 'VERY_HIGH'

    def __init__(self, seed: int = 0):
        self.seed = seed

    def _reseed(self, runner, offset: int) -> None:
        seed = runner.seed if runner.seed is not None else self.seed
        seed = (seed * 1_000_003 + offset) % 2**31
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def before_train_epoch(self, runner) -> None:
        self._reseed(runner, 2**20 + runner.epoch)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        self._reseed(runner, runner.iter)
