"""A run touches nothing outside its own work dir.

mmengine's ``CheckpointHook`` records the best checkpoint's path in the
message hub, which every checkpoint carries.  A run resumed from a
checkpoint copied out of another work dir (or from a work dir that was
moved) restores that path and, on finding a better score, deletes the
*origin's* ``best_*.pth``.  :func:`install` (called by
:mod:`backbones.mm_fixes`) makes the hook forget a restored best path that
lies outside the folder it saves to, with a note; the run then keeps its
own best checkpoint from there on.
"""
import os.path as osp


def inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies in ``folder`` (both resolved)."""
    folder = osp.realpath(folder)
    return osp.commonpath([osp.realpath(path), folder]) == folder


def forget_foreign_best(hook, runner) -> None:
    """Drop the hook's best-checkpoint paths (and the message hub's) that
    are not under its ``out_dir``.  One key indicator keeps its path in
    ``best_ckpt_path``, several in ``best_ckpt_path_dict``."""
    paths = dict(getattr(hook, 'best_ckpt_path_dict', None) or {})
    if getattr(hook, 'best_ckpt_path', None):
        paths[None] = hook.best_ckpt_path
    for key, path in paths.items():
        if not path or inside(str(path), hook.out_dir):
            continue
        runner.logger.warning(
            f'the resumed checkpoint names {path} as the best checkpoint, '
            f'outside this run\'s {hook.out_dir}: it is left alone, and this '
            f'run keeps its own best checkpoint from now on')
        if key is None:
            hook.best_ckpt_path = None
            runner.message_hub.runtime_info.pop('best_ckpt', None)
        else:
            hook.best_ckpt_path_dict[key] = None
            runner.message_hub.runtime_info.pop(f'best_ckpt_{key}', None)


def install() -> None:
    from mmengine.hooks import CheckpointHook
    if getattr(CheckpointHook.before_train, 'own_work_dir', False):
        return
    original = CheckpointHook.before_train

    def before_train(self, runner) -> None:
        original(self, runner)
        if self.save_best is not None:
            forget_foreign_best(self, runner)

    before_train.own_work_dir = True
    CheckpointHook.before_train = before_train
