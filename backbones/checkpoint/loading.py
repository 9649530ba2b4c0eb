"""Loading checkpoints into modules exactly.

A checkpoint must be loaded completely or not at all.
:func:`load_backbone_checkpoint` unwraps the usual containers, strips
``module.``/``backbone.`` prefixes, tries the module's own key layout and the
official release layout (through the family's converter), and loads only a
layout that fits every key and shape.  Otherwise it raises
:class:`CheckpointLayoutError` naming the missing, unexpected and mis-shaped
keys of the closest layout.  :func:`load_model_checkpoint` does the same for
a whole detector or segmentor of a config: the one function every tool
calls (:func:`check_checkpoint` where mmengine's runner loads the file
afterwards, taking the object this read kept).
"""
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log

from ..errors import (CheckpointLayoutError, NonFiniteWeightsError,
                      NotACheckpointError)
from .reading import read_checkpoint

_MAX_LISTED = 12


def non_finite_tensors(state_dict: dict) -> List[str]:
    """Names of the floating-point tensors holding NaN or Inf."""
    return [name for name, value in state_dict.items()
            if isinstance(value, torch.Tensor) and value.is_floating_point()
            and not torch.isfinite(value).all()]


def check_finite(state_dict: dict, source: str) -> None:
    """Refuse weights with NaN or Inf: they evaluate to empty metrics."""
    bad = non_finite_tensors(state_dict)
    if bad:
        raise NonFiniteWeightsError(
            f'{source} holds NaN or infinite values in {len(bad)} tensors '
            f'({", ".join(bad[:4])}{", ..." if len(bad) > 4 else ""}): a '
            f'training that diverged; use an earlier checkpoint')


def _is_tensor_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(v, torch.Tensor) for v in obj.values())


def extract_state_dict(obj, source: str = 'checkpoint') -> Tuple[dict, str]:
    """Find the tensor dict inside a loaded checkpoint.

    Accepts a bare tensor dict and the wrappers in use: ``state_dict``
    (mmengine, USI releases), ``model_ema`` / ``model`` (training
    checkpoints; the EMA weights are the ones the authors evaluate, so they
    win) and ``module``.

    Returns:
        The tensor dict and the name of the wrapper key it came from
        (``''`` for a bare dict).
    """
    if _is_tensor_dict(obj):
        return dict(obj), ''
    if isinstance(obj, dict):
        for key in ('state_dict', 'model_ema', 'model', 'module'):
            if key in obj and _is_tensor_dict(obj[key]):
                return dict(obj[key]), key
        keys = list(obj)[:_MAX_LISTED]
        raise NotACheckpointError(
            f'{source} holds no tensor dict: top-level keys are {keys}; '
            f'expected a tensor dict or one under state_dict / model_ema / '
            f'model / module.')
    raise NotACheckpointError(
        f'{source} holds a {type(obj).__name__}, not a state dict.')


def _strip(state_dict: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state_dict.items()
            if k.startswith(prefix)}


def _preview(keys) -> str:
    """The first few keys, sorted, and how many more there are."""
    keys = sorted(keys)
    more = f' ... (+{len(keys) - _MAX_LISTED} more)' \
        if len(keys) > _MAX_LISTED else ''
    return ', '.join(keys[:_MAX_LISTED]) + more


def _listing(keys, label: str) -> str:
    return f'{len(keys)} {label}: {_preview(keys)}'


def _compare(expected: Dict[str, torch.Size], candidate: dict):
    missing = [k for k in expected if k not in candidate]
    unexpected = [k for k in candidate if k not in expected]
    mismatched = [f'{k} {tuple(candidate[k].shape)} vs '
                  f'{tuple(expected[k])}' for k in expected
                  if k in candidate and candidate[k].shape != expected[k]]
    return missing, unexpected, mismatched


def match_layout(module: torch.nn.Module, state_dict: dict,
                 converter: Optional[Callable[[dict], Tuple[dict, list]]],
                 source: str) -> Tuple[dict, str, list]:
    """Pick the layout of ``state_dict`` that fits ``module`` exactly.

    Returns:
        The state dict in the module's layout, the layout's name and the
        keys the converter dropped on purpose (an official classifier).

    Raises:
        CheckpointLayoutError: no layout fits every key and shape.
    """
    expected = {k: v.shape for k, v in module.state_dict().items()}
    name = type(module).__name__
    candidates = [('mobiledense', state_dict, [])]
    if converter is not None:
        converted, dropped = converter(state_dict)
        candidates.append((f'official {name} release', converted, dropped))
    reports = []
    for layout, candidate, dropped in candidates:
        missing, unexpected, mismatched = _compare(expected, candidate)
        if not (missing or unexpected or mismatched):
            return candidate, layout, dropped
        reports.append((len(missing) + len(unexpected) + len(mismatched),
                        layout, missing, unexpected, mismatched))
    _, layout, missing, unexpected, mismatched = min(reports,
                                                     key=lambda r: r[0])
    raise CheckpointLayoutError(
        f'{source} matches no known {name} layout; nothing was loaded. '
        f'Closest layout: {layout}: '
        f'{_differences(missing, unexpected, mismatched)}.')


def _differences(missing, unexpected, mismatched) -> str:
    """One line: what is missing, unexpected and mis-shaped."""
    parts = [_listing(keys, label) for keys, label in (
        (missing, 'missing keys'), (unexpected, 'unexpected keys'),
        (mismatched, 'shape mismatches')) if keys]
    return '; '.join(parts)


def checkpoint_state_dict(path: str, keep: bool = False) -> dict:
    """The tensor dict of a checkpoint file (``module.`` prefixes of a
    distributed save stripped), read once (:func:`read_checkpoint`,
    ``keep`` as there), finite.

    Raises:
        CheckpointError: and its subclasses, as :func:`read_checkpoint`;
            NotACheckpointError for a file without a tensor dict,
            NonFiniteWeightsError for NaN or Inf weights.
    """
    return _state_dict_of(read_checkpoint(path, keep=keep), path)


def _state_dict_of(raw, path: str) -> dict:
    state_dict, _ = extract_state_dict(raw, source=path)
    check_finite(state_dict, path)
    if state_dict and all(k.startswith('module.') for k in state_dict):
        state_dict = _strip(state_dict, 'module.')
    return state_dict


def _unwrapped(model: torch.nn.Module) -> torch.nn.Module:
    from mmengine.model import is_model_wrapper
    return model.module if is_model_wrapper(model) else model  # DDP


def _check_fit(model: torch.nn.Module, state_dict: dict, path: str) -> None:
    expected = {k: v.shape for k, v in model.state_dict().items()}
    missing, unexpected, mismatched = _compare(expected, state_dict)
    if missing or unexpected or mismatched:
        raise CheckpointLayoutError(
            f'{path} does not fit the {type(model).__name__} of this config: '
            f'{_differences(missing, unexpected, mismatched)}.')


# a load_from that fills less of the model is another model's checkpoint
MIN_LOADED_SHARE = 0.5


def check_checkpoint(path: str, model: Optional[torch.nn.Module] = None,
                     resume: bool = False) -> None:
    """Check a checkpoint that mmengine's runner will load (``load_from``,
    resume): readable, trusted, finite and, given ``model``, fitting it key
    for key (the runner loads non-strictly and only logs the difference,
    which would train or test random weights); to ``resume`` from, with
    the optimizer state a resumed schedule continues from.  The object
    read is kept for the runner's own read.

    Raises:
        CheckpointError: and its subclasses, naming the problem.
    """
    raw = read_checkpoint(path, keep=True)
    state_dict = _state_dict_of(raw, path)
    if model is not None:
        _check_fit(_unwrapped(model), state_dict, path)
    if resume and not (isinstance(raw, dict) and 'optimizer' in raw):
        raise CheckpointLayoutError(
            f'{path} holds weights but no optimizer or scheduler state (a '
            f'best_*.pth or converted file): resuming would restart the '
            f'learning-rate schedule; start from it with load_from instead')


def check_fine_tune_source(path: str, model: torch.nn.Module) -> str:
    """Check a ``load_from`` checkpoint (no resume): at least
    :data:`MIN_LOADED_SHARE` of the model's tensors must find a tensor of
    the same key and shape (mmengine loads the rest silently at their
    initial values).  Returns a note naming what does not load (fine-tuning
    to another class count leaves the classifier out), '' when it all
    does.  The object read is kept for the runner's own read.

    Raises:
        CheckpointLayoutError: almost nothing fits (another model's file).
    """
    model = _unwrapped(model)
    state_dict = checkpoint_state_dict(path, keep=True)
    expected = {k: v.shape for k, v in model.state_dict().items()}
    missing, unexpected, mismatched = _compare(expected, state_dict)
    loaded = len(expected) - len(missing) - len(mismatched)
    share = loaded / max(len(expected), 1)
    summary = (f'{path} fills {loaded} of the {len(expected)} tensors of '
               f'the {type(model).__name__} of this config ({share:.0%})')
    if share < MIN_LOADED_SHARE:
        raise CheckpointLayoutError(
            f'{summary}: it is another model\'s checkpoint; '
            f'{_differences(missing, unexpected, mismatched)}')
    if missing or unexpected or mismatched:
        return (f'note: load_from {summary}; the rest keep their initial '
                f'values: {_differences(missing, unexpected, mismatched)}')
    return ''


def load_model_checkpoint(model: torch.nn.Module, path: str) -> None:
    """Load a training checkpoint of a config into its ``model``, key for
    key, reading the file once.

    Raises:
        CheckpointError: and its subclasses, naming the problem; nothing
            is loaded then.
    """
    model = _unwrapped(model)
    state_dict = checkpoint_state_dict(path)
    _check_fit(model, state_dict, path)
    model.load_state_dict(OrderedDict(state_dict), strict=True)


def load_backbone_checkpoint(module: torch.nn.Module, path: str,
                             prefix: Optional[str] = None) -> str:
    """Load a backbone checkpoint into ``module``, exactly or not at all.

    Args:
        module: a backbone; its class may define ``convert_official`` (a
            function from the official tensor dict to ``(state_dict,
            dropped_keys)``).
        path: a local file in any accepted layout: the official release,
            a ``state_dict``/``model``/``model_ema`` wrapper, keys prefixed
            with ``backbone.`` or ``module.``, a full mmdet/mmseg checkpoint
            of this project.
        prefix: keep only keys under this prefix (mmengine's
            ``Pretrained(prefix=...)``), stripped.

    Returns:
        The name of the layout that was loaded.
    """
    raw = read_checkpoint(path)
    state_dict, wrapper = extract_state_dict(raw, source=path)
    check_finite(state_dict, path)
    if prefix:
        state_dict = _strip(state_dict, prefix if prefix.endswith('.')
                            else prefix + '.')
    if state_dict and all(k.startswith('module.') for k in state_dict):
        state_dict = _strip(state_dict, 'module.')
    if any(k.startswith('backbone.') for k in state_dict):
        others = sorted({k.split('.')[0] for k in state_dict
                         if not k.startswith('backbone.')})
        if others:
            print_log(f'{path}: loading the backbone.* part; ignoring the '
                      f'non-backbone parts {others}.', logger='current')
        state_dict = _strip(state_dict, 'backbone.')
    converter = getattr(type(module), 'convert_official', None)
    state_dict, layout, dropped = match_layout(module, state_dict, converter,
                                               source=path)
    module.load_state_dict(OrderedDict(state_dict), strict=True)
    where = f" (under '{wrapper}')" if wrapper else ''
    # The converter drops what the backbone has no use for: the ImageNet
    # classifier, tables it recomputes (LeViT's attention_bias_idxs).
    note = f'; dropped {len(dropped)} official keys the backbone does not ' \
        f'use: {_preview(dropped)}' if dropped else ''
    print_log(f'Loaded {len(state_dict)} tensors into {type(module).__name__}'
              f' from {path}{where}, {layout} layout{note}.',
              logger='current')
    return layout
