"""Start-up checks and settings every tool applies before touching a
config."""
import ctypes
import ctypes.util
import importlib.util
import os
import os.path as osp
import subprocess
import sys
import warnings

from .errors import ToolError

# mmengine imports pkg_resources for its `mmdet::` config bases; setuptools
# < 81 (which we pin for that reason) warns about it on every import.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated',
                        category=UserWarning)


def check_torchvision() -> None:
    """Stop early if an unusable torchvision is installed.

    mmengine's Runner imports torchvision while collecting environment info;
    a torchvision built for another torch (e.g. the CUDA wheel next to a CPU
    torch) makes every run crash there.  The import is tried in a child
    process because a broken binary extension may abort the interpreter.
    """
    spec = importlib.util.find_spec('torchvision')
    if spec is None:
        return
    probe = subprocess.run([sys.executable, '-c', 'import torchvision'],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ['(no message)'])[-1]
        raise ToolError(
            f'torchvision is installed ({osp.dirname(spec.origin)}) but '
            f'cannot be imported: {last}\nmmengine imports it at start-up, '
            f'so every run would crash. mobiledense does not use '
            f'torchvision: remove it with `{sys.executable} -m pip uninstall '
            f'-y torchvision` (or install the build that matches your '
            f'torch).')


def keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed memory for reuse.

    By default glibc hands blocks above 128 KB back to the kernel when they
    are freed, so every activation of every forward is backed by fresh pages
    whose first touch faults: on 2 CPU cores this made a SSDLite-EMO-2M
    training step 5% and backbone forwards up to 20% slower, and timings
    vary by as much between runs.  Allocations up to 32 MB (glibc's limit)
    are now served from the heap, which is trimmed only above 1 GB free.
    Other C libraries are left as they are.
    """
    if not sys.platform.startswith('linux'):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_trim_threshold, 1 << 30)
    mallopt(m_mmap_threshold, 32 << 20)


def preflight() -> None:
    """Checks and fixes every tool runs before touching a config."""
    check_torchvision()
    keep_freed_memory()
    import backbones.mm_fixes  # noqa: F401  (applies the stack fixes)


def apply_unsafe_load(enabled: bool) -> None:
    """``--unsafe-load``: our loader and mmengine's (which calls
    ``torch.load`` without ``weights_only``) may unpickle anything."""
    if enabled:
        from ..checkpoint import UNSAFE_ENV
        os.environ[UNSAFE_ENV] = '1'
        os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'
