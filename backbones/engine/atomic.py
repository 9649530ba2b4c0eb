"""Atomic local writes for MMEngine's checkpoints and ``last_checkpoint``:
a temporary file beside the target, flushed and fsynced, then renamed over
it, so a kill or a full disk during a save never leaves a partial file or
a pointer to one (mmengine 0.10.7 writes both in place).

:func:`install` (called by :mod:`backbones.mm_fixes`) routes
``LocalBackend.put`` / ``put_text`` (what ``save_checkpoint`` uses) and the
``open(..., 'w')`` of ``CheckpointHook`` (``last_checkpoint``) through
:func:`atomic_write`.
"""
import builtins
import contextlib
import io
import os
import os.path as osp


def atomic_write(path: str, data, mode: str = 'wb',
                 encoding: str = None) -> None:
    """Write ``data`` to ``path`` all at once or not at all."""
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = osp.join(folder, f'.{osp.basename(path)}.{os.getpid()}.tmp')
    try:
        with builtins.open(temporary, mode, encoding=encoding) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself, durably
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


class _AtomicTextFile(io.StringIO):
    """``open(path, 'w')`` whose content lands at ``path`` on close."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def close(self):
        if not self.closed:
            atomic_write(self.path, self.getvalue(), 'w', 'utf-8')
        super().close()

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.close()
        else:  # an error while writing: keep the old file
            super().close()


def _open_atomically_for_writing(file, mode='r', *args, **kwargs):
    if mode == 'w':
        return _AtomicTextFile(file)
    return builtins.open(file, mode, *args, **kwargs)


def install() -> None:
    from mmengine.fileio.backends import LocalBackend
    from mmengine.hooks import checkpoint_hook
    if getattr(LocalBackend.put, 'atomic', False):
        return

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(filepath, obj, 'wb')

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(filepath, obj, 'w', encoding)

    put.atomic = True
    LocalBackend.put, LocalBackend.put_text = put, put_text
    checkpoint_hook.open = _open_atomically_for_writing
