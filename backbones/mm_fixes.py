"""Narrow fixes for known bugs of the pinned OpenMMLab stack.

Importing this module applies them; our configs list it in
``custom_imports`` and our tools import it, so stock mmdet/mmseg tools get
the same behaviour with our configs.  Each fix is idempotent and has a test:
the first in ``tests/test_checkpoint.py``, the second in
``tests/test_tools.py``, the third in ``tests/test_bad_inputs.py``.

1. PyTorch >= 2.6 loads checkpoints with ``weights_only=True``, and
   mmengine 0.10.7's own checkpoints (``HistoryBuffer`` logs, numpy scalars)
   then fail to load on resume / ``load_from`` / test.  We allow exactly those
   data-only types (:func:`backbones.checkpoint.trust_checkpoint_types`);
   anything else in a pickle is still refused.
2. mmdet 3.3.0 ``SSDHead`` cannot predict: ``BaseDenseHead`` reads
   ``self.loss_cls`` (open-mmlab/mmdetection#11063), which ``SSDHead`` never
   builds because it computes its softmax loss itself.  We give the class a
   ``loss_cls`` of None, the value the prediction code expects for "no
   custom classification loss".
3. mmengine 0.10.7 writes checkpoints and ``last_checkpoint`` in place: a
   kill or a full disk mid-save leaves a partial file, or a pointer to one.
   Local writes become atomic (:mod:`backbones.engine.atomic`).
4. mmengine reads local checkpoint files with a bare ``torch.load``: they
   go through :func:`backbones.checkpoint.read_checkpoint` instead (named
   errors for missing, damaged, foreign and untrusted files, and one read of
   a file a tool checked before the runner loads it).
5. mmengine 0.10.7's ``CheckpointHook`` deletes the previous best checkpoint
   at the path the resumed checkpoint recorded, even in another work dir: a
   restored path outside the run's own folder is forgotten
   (:mod:`backbones.engine.own_work_dir`).
"""
import importlib.util

from .checkpoint import install_as_mmengine_loader, trust_checkpoint_types
from .engine import atomic, own_work_dir


def fix_ssd_head() -> bool:
    """Give mmdet's SSDHead the missing ``loss_cls``; True if applied."""
    if importlib.util.find_spec('mmdet') is None:
        return False
    from mmdet.models.dense_heads import SSDHead
    if 'loss_cls' not in vars(SSDHead):
        SSDHead.loss_cls = None
    return True


trust_checkpoint_types()
fix_ssd_head()
atomic.install()
install_as_mmengine_loader()
own_work_dir.install()
