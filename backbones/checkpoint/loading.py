"""Loading checkpoints safely and exactly.

Two problems are solved here.

**Unpickling.** PyTorch >= 2.6 loads with ``weights_only=True``: only
tensors, containers and an allow-list of classes may be unpickled.  The files
we must read hold a few harmless non-tensor objects (mmengine writes its
``HistoryBuffer`` logs and numpy scalars into every checkpoint; EdgeNeXt's
training checkpoints carry an ``argparse.Namespace``).  Rather than turning
``weights_only`` off, which would execute any code a pickle names, we add
exactly those classes to torch's allow-list (:func:`trust_checkpoint_types`).
A file naming anything else is refused with the list of offending globals;
a user who trusts such a file can opt in with ``MOBILEDENSE_UNSAFE_LOAD=1``
(or ``--unsafe-load`` in our tools, which also sets PyTorch's
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for mmengine's loads), the only path
to ``weights_only=False``.

**Matching.** A backbone checkpoint must be loaded completely or not at all.
:func:`load_backbone_checkpoint` unwraps the usual containers, strips
``module.``/``backbone.`` prefixes, tries the module's own key layout and the
official release layout (through the family's converter), and loads only a
layout that fits every key and shape.  Otherwise it raises
:class:`CheckpointLayoutError` naming the missing, unexpected and mis-shaped
keys of the closest layout.
"""
import argparse
import os
import pickle
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log

from .mxnet_params import is_mxnet_params, read_mxnet_params

UNSAFE_ENV = 'MOBILEDENSE_UNSAFE_LOAD'
_MAX_LISTED = 12


class CheckpointLayoutError(KeyError):
    """A checkpoint whose keys or shapes fit no layout the module accepts."""

    def __str__(self):  # KeyError would repr() the message
        return str(self.args[0])


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint that would run code outside the allow-list to load."""


def _history_buffer_getattr(obj, name: str):
    """The only ``getattr`` a checkpoint may call while unpickling.

    mmengine pickles each ``HistoryBuffer``'s statistics methods as
    ``getattr(HistoryBuffer, 'mean')`` and the like.  Allowing the builtin
    would let a pickle fetch any attribute of any object it holds; this
    stand-in answers for those methods alone.
    """
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and not name.startswith('_') and \
            callable(vars(HistoryBuffer).get(name)):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while unpickling: only '
        f'public HistoryBuffer methods are allowed.')


def _trusted_types() -> List:
    """Classes and functions allowed to appear in the checkpoints we read.

    Each entry only rebuilds data: constructing it cannot run code that the
    file chooses.  Entries are ``obj`` or ``(obj, name in the pickle)``.
    """
    import numpy as np
    from mmengine.logging import HistoryBuffer
    trusted = [argparse.Namespace, HistoryBuffer, np.ndarray, np.dtype,
               (_history_buffer_getattr, 'builtins.getattr')]
    # numpy 2 calls its pickling helpers numpy._core.multiarray.*; files
    # written under numpy 1 name them numpy.core.multiarray.*.
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    # A dtype is rebuilt by setting the state of its concrete class
    # (numpy.dtypes.Float64DType, ...), which must be allowed as well.
    trusted += sorted({type(np.dtype(code)) for code in '?bhilqBHILQefdgFD'}
                      - {np.dtype}, key=str)
    for helper in ('_reconstruct', 'scalar'):
        function = getattr(multiarray, helper)
        trusted += [(function, f'numpy._core.multiarray.{helper}'),
                    (function, f'numpy.core.multiarray.{helper}')]
    return trusted


def trust_checkpoint_types() -> None:
    """Allow the types of :func:`_trusted_types` in ``torch.load``.

    Idempotent.  Affects every later ``torch.load(weights_only=True)`` in the
    process, which is how mmengine's own resume/``load_from`` start working
    on PyTorch >= 2.6 without unpickling arbitrary objects.
    """
    def name(entry):
        return entry[1] if isinstance(entry, tuple) else \
            f'{entry.__module__}.{entry.__qualname__}'

    current = {name(entry) for entry in torch.serialization.get_safe_globals()}
    missing = [t for t in _trusted_types() if name(t) not in current]
    if missing:
        torch.serialization.add_safe_globals(missing)


def untrusted_globals(path: str) -> List[str]:
    """Globals in a checkpoint that ``torch.load`` would refuse, found by
    scanning the pickle without running it (empty for our own files)."""
    trust_checkpoint_types()
    try:
        return torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip checkpoint (legacy format): cannot tell
        return []


def unsafe_load_allowed() -> bool:
    return os.environ.get(UNSAFE_ENV, '') not in ('', '0', 'false', 'False')


def load_file(path: str, map_location='cpu'):
    """``torch.load`` a local file under the allow-list, or read an MXNet
    ``.params`` file (by its magic bytes or suffix) into a tensor dict.

    Raises:
        FileNotFoundError: the path does not exist.
        UntrustedCheckpointError: the file needs globals outside the
            allow-list and the user did not opt in to unsafe loading.
        MXNetParamsError: a malformed ``.params`` file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Checkpoint not found: {path}')
    if str(path).endswith('.params') or is_mxnet_params(path):
        return read_mxnet_params(path)
    with open(path, 'rb') as handle:
        head = handle.read(2)
    # torch.save writes a zip archive (since 1.6) or a pickle (protocol 2+)
    if head != b'PK' and head[:1] != b'\x80':
        raise CheckpointLayoutError(
            f'{path} is not a PyTorch checkpoint (a file written by '
            f'torch.save): it starts with {head!r}')
    trust_checkpoint_types()
    if unsafe_load_allowed():
        print_log(f'{UNSAFE_ENV} is set: loading {path} with '
                  'weights_only=False (it may run code).', logger='current')
        return torch.load(path, map_location=map_location, weights_only=False)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        names = untrusted_globals(path)
        # torch's own message ends with advice to drop weights_only; keep
        # only the line that says what was refused.
        lines = [line.strip() for line in str(err).splitlines()
                 if line.strip()]
        reason = ', '.join(names) or next(
            (line for line in lines if line.startswith(
                ('refusing', 'Unsupported global', 'Can only build'))),
            lines[0] if lines else 'unknown')
        raise UntrustedCheckpointError(
            f'{path} contains pickled objects outside the allow-list of '
            f'mobiledense ({reason}). It was not loaded. '
            f'If you trust the file, set {UNSAFE_ENV}=1 (or pass '
            f'--unsafe-load to our tools) to load it with '
            f'weights_only=False.') from err


def non_finite_tensors(state_dict: dict) -> List[str]:
    """Names of the floating-point tensors holding NaN or Inf."""
    return [name for name, value in state_dict.items()
            if isinstance(value, torch.Tensor) and value.is_floating_point()
            and not torch.isfinite(value).all()]


def check_finite(state_dict: dict, source: str) -> None:
    """Refuse weights with NaN or Inf: they evaluate to empty metrics."""
    bad = non_finite_tensors(state_dict)
    if bad:
        raise CheckpointLayoutError(
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
        raise CheckpointLayoutError(
            f'{source} holds no tensor dict: top-level keys are {keys}; '
            f'expected a tensor dict or one under state_dict / model_ema / '
            f'model / module.')
    raise CheckpointLayoutError(
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


def check_model_checkpoint(model: torch.nn.Module, path: str) -> None:
    """A checkpoint of a whole detector/segmentor fits ``model`` key for
    key (MMEngine's runner loads non-strictly and only logs the
    difference, which would test random weights).

    Raises:
        CheckpointLayoutError: naming the missing, unexpected and
            mis-shaped keys.
    """
    from mmengine.model import is_model_wrapper
    if is_model_wrapper(model):  # distributed: DDP around the model
        model = model.module
    state_dict, _ = extract_state_dict(load_file(path), source=path)
    if state_dict and all(k.startswith('module.') for k in state_dict):
        state_dict = _strip(state_dict, 'module.')
    expected = {k: v.shape for k, v in model.state_dict().items()}
    missing, unexpected, mismatched = _compare(expected, state_dict)
    if missing or unexpected or mismatched:
        raise CheckpointLayoutError(
            f'{path} does not fit the {type(model).__name__} of this config: '
            f'{_differences(missing, unexpected, mismatched)}.')


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
    raw = load_file(path)
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
