"""The checkpoint ``--resume`` continues from."""
import glob
import os.path as osp
import re
from typing import Optional

from ..checkpoint import checkpoint_damage


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
