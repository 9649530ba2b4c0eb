"""Seconds per training step of a config, split into data loading (the
config's train dataloader when its data exist, else a synthetic batch),
forward with loss, backward and optimizer step.  mmdet 3.3's own
``benchmark.py --task inference`` needs CUDA; this runs anywhere."""
import copy
import statistics
import time
from typing import Dict, List, Tuple

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from ..config import build_model, check_channels, load_config
from ..data.synthetic import synthetic_batch
from ..errors import UsageError
from .entries import Settings
from .timing import synchronize


def _batches(cfg, model, settings: Settings):
    """An iterator of training batches and where they come from."""
    from mmengine.runner import Runner
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.batch_size = settings.batch
    try:
        loader = Runner.build_dataloader(loader_cfg, seed=0)
        batches = iter(loader)
        next(batches)
        dataset = loader.dataset
        inner = getattr(dataset, 'dataset', None)  # RepeatDataset etc.
        return batches, (
            f'{type(dataset).__name__}' + (
                f' of {type(inner).__name__}' if inner is not None else '') +
            f' with {loader_cfg.get("num_workers", 0)} workers')
    except (FileNotFoundError, OSError) as err:
        size = tuple(settings.shape) if settings.shape else (320, 320)
        batch = synthetic_batch(model, cfg.default_scope, size,
                                settings.batch)
        return iter(lambda: batch, None), \
            f'synthetic {size[0]}x{size[1]} batch (no data: {err})'


def train_split(config: str, settings: Settings
                ) -> Tuple[Dict[str, float], List[str]]:
    """Median seconds per part of a training step of ``config`` (batch
    ``settings.batch``, else the config's), and the lines that report it.

    Raises:
        UsageError: a batch of one for a model with BatchNorm.
    """
    from mmengine.optim import build_optim_wrapper
    cfg = load_config(config, settings.cfg_options)
    check_channels(cfg)
    device = torch.device(settings.device)
    model = build_model(cfg, init_weights=True).to(device).train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    configured = cfg.train_dataloader.batch_size
    settings.batch = settings.batch or configured
    if settings.batch < 2 and any(isinstance(m, _BatchNorm)
                                  for m in model.modules()):
        raise UsageError(
            f'--batch {settings.batch} cannot train this model: its '
            f'BatchNorm layers need more than one image (the config trains '
            f'with {configured})')
    batches, source = _batches(cfg, model, settings)
    parts = {'data': [], 'forward + loss': [], 'backward': [],
             'optimizer': []}
    for step in range(settings.warmup + settings.reps):
        times = [time.perf_counter()]
        data = next(batches)
        times.append(time.perf_counter())
        data = model.data_preprocessor(data, True)
        losses = model._run_forward(data, mode='loss')
        loss, _ = model.parse_losses(losses)
        synchronize(device)
        times.append(time.perf_counter())
        loss.backward()
        synchronize(device)
        times.append(time.perf_counter())
        optim_wrapper.step()
        optim_wrapper.zero_grad()
        synchronize(device)
        times.append(time.perf_counter())
        if step >= settings.warmup:
            for part, start, end in zip(parts, times, times[1:]):
                parts[part].append(end - start)
    medians = {part: statistics.median(v) for part, v in parts.items()}
    total = sum(medians.values())
    lines = [f'{config}: training step, batch {settings.batch}, {source}, '
             f'{torch.get_num_threads()} threads']
    lines += [f'  {part:<15} {median * 1e3:8.1f} ms  {median / total:5.1%}'
              for part, median in medians.items()]
    lines.append(f'  {"step":<15} {total * 1e3:8.1f} ms  '
                 f'({settings.batch / total:.1f} images/s)')
    return medians, lines
