"""Reading a checkpoint file once, safely.

PyTorch >= 2.6 loads with ``weights_only=True``: only tensors, containers
and an allow-list of classes may be unpickled.  The files we must read hold
a few harmless non-tensor objects (mmengine writes its ``HistoryBuffer``
logs and numpy scalars into every checkpoint; EdgeNeXt's training
checkpoints carry an ``argparse.Namespace``).  Rather than turning
``weights_only`` off, which would execute any code a pickle names, we add
exactly those classes to torch's allow-list (:func:`trust_checkpoint_types`).
A file naming anything else is refused with the list of offending globals;
a user who trusts such a file can opt in with ``MOBILEDENSE_UNSAFE_LOAD=1``
(or ``--unsafe-load`` in our tools, which also sets PyTorch's
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for mmengine's loads), the only path
to ``weights_only=False``.

:func:`read_checkpoint` is the one way a file is read: missing, empty,
damaged (zip CRCs), foreign and untrusted files are refused there, in one
line each.  It is also mmengine's reader of local files
(:func:`install_as_mmengine_loader`), and keeps the last file it read for
the next read of the same unchanged file, so a tool that checks a
checkpoint before the runner loads it reads the file once.
"""
import argparse
import os
import os.path as osp
import pickle
import zipfile
from typing import List, Optional

import torch
from mmengine.logging import print_log

from ..errors import (CheckpointError, CheckpointNotFoundError,
                      NotACheckpointError, UntrustedCheckpointError)
from .mxnet_params import is_mxnet_params, read_mxnet_params

UNSAFE_ENV = 'MOBILEDENSE_UNSAFE_LOAD'


def not_found(path: str) -> str:
    """The line for a checkpoint path that is no file (a URL is named as
    one: checkpoints are read from local files, never downloaded)."""
    if str(path).startswith(('http://', 'https://', 's3://')):
        return (f'checkpoint {path} is a URL: checkpoints are read from '
                f'local files only; download it and give its path')
    return f'checkpoint not found: {path}'


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
        CheckpointError: the path does not exist.
        UntrustedCheckpointError: the file needs globals outside the
            allow-list and the user did not opt in to unsafe loading.
        MXNetParamsError: a malformed ``.params`` file.
    """
    if not os.path.isfile(path):
        raise CheckpointNotFoundError(not_found(path))
    if str(path).endswith('.params') or is_mxnet_params(path):
        return read_mxnet_params(path)
    with open(path, 'rb') as handle:
        head = handle.read(2)
    # torch.save writes a zip archive (since 1.6) or a pickle (protocol 2+)
    if head != b'PK' and head[:1] != b'\x80':
        raise NotACheckpointError(
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


def checkpoint_damage(path: str) -> Optional[str]:
    """Why a zip checkpoint cannot be read back (None if it can): torch
    writes zip archives, whose CRCs reveal a file cut short by a crash
    during the save or damaged later."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return str(err) or type(err).__name__
    return None if bad is None else f'{bad} fails its CRC check'


# (path, size, mtime) -> the object read: the next read of the same
# unchanged file takes it instead of unpickling again (once)
_last_read = {}


def _identity(path: str) -> tuple:
    stat = os.stat(path)
    return osp.realpath(path), stat.st_size, stat.st_mtime_ns


def read_checkpoint(path: str, map_location='cpu', keep: bool = False):
    """The object in a checkpoint file, read once and checked.

    ``keep``: hold it for the next read of the same unchanged file (the
    runner's, after a tool's check), which takes it without reading.

    Raises:
        CheckpointError: the file is missing, empty or damaged.
        NotACheckpointError: not a file torch.save or MXNet wrote.
        UntrustedCheckpointError: objects outside the allow-list, without
            the user's opt-in.
        MXNetParamsError: a malformed ``.params`` file.
    """
    path = osp.expanduser(str(path))
    if not osp.isfile(path):
        raise CheckpointNotFoundError(not_found(path))
    if osp.getsize(path) == 0:
        raise CheckpointError(f'checkpoint {path} is empty (0 bytes)')
    identity = _identity(path)
    loaded = _last_read.pop(identity, None)
    if loaded is None:
        _last_read.clear()
        with open(path, 'rb') as handle:
            zipped = handle.read(2) == b'PK'  # torch's format since 1.6
        damage = checkpoint_damage(path) if zipped else None
        if damage:
            raise CheckpointError(f'checkpoint {path} is damaged ({damage}):'
                                  f' it was cut short or corrupted')
        loaded = load_file(path, map_location)
    if keep:
        _last_read[identity] = loaded
    return loaded


def install_as_mmengine_loader() -> None:
    """Let mmengine read local checkpoint files (``load_from``, resume,
    ``Pretrained``) through :func:`read_checkpoint`: the same checks and
    messages as our tools, and no second read of a file a tool checked."""
    from mmengine.runner import CheckpointLoader

    def load_from_local(filename, map_location):
        return read_checkpoint(filename, map_location)

    CheckpointLoader.register_scheme('', load_from_local, force=True)
