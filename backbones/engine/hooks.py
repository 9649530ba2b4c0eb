"""MMEngine hooks of this project (registered in the root ``HOOKS``
registry, so configs of any scope can name them in ``custom_hooks``)."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..errors import NonFiniteTrainingError
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


@HOOKS.register_module()
class StopOnNonFiniteHook(Hook):
    """Stop a training whose loss turns NaN or infinite, naming the
    iteration, before anything of it is saved; and never save a checkpoint
    whose weights are not finite.  Our ``tools/train.py`` adds it.

    The loss check reads one scalar per iteration (the logged loss, which
    MMEngine reads anyway); the weight check runs before each save.
    """

    priority = 'ABOVE_NORMAL'  # before CheckpointHook (VERY_LOW) saves

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        loss = (outputs or {}).get('loss')
        if loss is not None and not torch.isfinite(loss).all():
            raise NonFiniteTrainingError(
                f'the loss became {float(loss.detach().float().sum())} at '
                f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}); '
                f'training stopped without saving it. Lower the learning '
                f'rate or check the data; --resume continues from the last '
                f'good checkpoint in {runner.work_dir}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', {})
        bad = [name for name, value in state.items()
               if torch.is_tensor(value) and value.is_floating_point() and
               not torch.isfinite(value).all()]
        if bad:
            raise NonFiniteTrainingError(
                f'{len(bad)} weight tensors became NaN or infinite by '
                f'iteration {runner.iter} (e.g. {", ".join(bad[:3])}); the '
                f'checkpoint was not saved')
