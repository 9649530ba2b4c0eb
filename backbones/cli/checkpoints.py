"""Checkpoint pre-checks: a missing, empty, damaged or untrusted file is
named before mmengine fails on it inside the runner; the checkpoint a
``--resume`` continues from."""
import glob
import os.path as osp
import re
from typing import Optional

from .errors import ToolError


def check_checkpoint(path: str) -> None:
    """Stop with a clear message before mmengine fails to unpickle a
    checkpoint deep inside the runner.

    Raises:
        ToolError: the file is missing, empty or damaged, or holds
            objects outside the allow-list while ``--unsafe-load`` was not
            given.
        CheckpointLayoutError: not a PyTorch checkpoint, no state dict in
            it, or tensors with NaN or Inf (named).
    """
    from ..checkpoint import (check_finite, extract_state_dict, load_file,
                              unsafe_load_allowed, untrusted_globals)
    if not osp.isfile(path):
        raise ToolError(f'checkpoint not found: {path}')
    if osp.getsize(path) == 0:
        raise ToolError(f'checkpoint {path} is empty (0 bytes)')
    with open(path, 'rb') as handle:
        zipped = handle.read(2) == b'PK'  # torch's format since 1.6
    damage = checkpoint_damage(path) if zipped else None
    if damage:
        raise ToolError(f'checkpoint {path} is damaged ({damage}): it was '
                        f'cut short or corrupted')
    names = [] if unsafe_load_allowed() else untrusted_globals(path)
    if names:
        raise ToolError(
            f'{path} contains pickled objects outside the allow-list '
            f'({", ".join(names)}), so it was not loaded. If you trust the '
            f'file, add --unsafe-load to load it with weights_only=False.')
    if path.endswith('.params'):
        return  # MXNet releases: read and checked by their converter
    state_dict, _ = extract_state_dict(load_file(path), source=path)
    check_finite(state_dict, path)


def checkpoint_damage(path: str) -> Optional[str]:
    """Why a checkpoint file cannot be read back (None if it can): torch
    writes zip archives, whose CRCs reveal a file cut short by a crash
    during the save or damaged later."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return str(err) or type(err).__name__
    return None if bad is None else f'{bad} fails its CRC check'


def latest_good_checkpoint(work_dir: str, report=print) -> Optional[str]:
    """The checkpoint ``--resume`` continues from: the one named in
    ``last_checkpoint``, else the latest ``epoch_N.pth`` / ``iter_N.pth``
    (``best_*`` files lack the optimizer state); a damaged one is reported
    and the previous one tried.  None when there is none."""
    def number(path):
        match = re.fullmatch(r'(?:epoch|iter)_(\d+)\.pth', osp.basename(path))
        return int(match.group(1)) if match else None

    candidates = sorted((p for p in glob.glob(osp.join(work_dir, '*.pth'))
                         if number(p) is not None), key=number, reverse=True)
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as handle:
            named = handle.read().strip()
        if named in candidates:
            candidates.remove(named)
        candidates.insert(0, named)
    for path in candidates:
        if not osp.isfile(path):
            report(f'warning: {pointer} names {path}, which does not exist')
            continue
        damage = checkpoint_damage(path)
        if damage is None:
            return path
        report(f'warning: checkpoint {path} is damaged ({damage}); trying '
               f'the previous one')
    return None
