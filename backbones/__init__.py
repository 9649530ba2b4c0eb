"""mobiledense: mobile vision backbones as MMEngine backbones.

With the training stack installed (torch, mmengine, mmcv), importing this
package registers the backbones in MMEngine's root ``MODELS`` registry and
the hooks in its root ``HOOKS`` registry, so ``type='EMO'`` works in mmdet
and mmseg configs alike.  It does not import mmdet or mmseg.

Rooms, each importing only the rooms above it in this list: ``errors``
(the package's exceptions), ``runtime`` (running artefacts: numpy, OpenCV
and one runtime), ``checkpoint`` (reading and loading weights), ``models``
(the backbones), ``config`` (loading, walking, checking configs; building
models), ``data`` (dataset checks, toy data), ``engine`` (hooks, runners),
``analysis`` (parameters and FLOPs), ``export`` (ONNX and artefacts),
``benchmark`` (timing); ``cli`` (what the tools share) sits on top.

On a device that only runs artefacts (no torch, mmengine or mmcv),
``backbones.runtime`` works and the training side is not loaded.
"""
import importlib.util

__version__ = '0.3.0'



def _missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):  # a finder that refuses it
        return True


# The training side needs all three; a device install has none of them
_MISSING = [name for name in ('torch', 'mmengine', 'mmcv') if _missing(name)]

# What the training side exports at the top level
_TRAINING_SIDE = ('AsymmNet', 'EdgeNeXt', 'EMO', 'FeatureInfo', 'LayerNorm2d',
                  'LeViT', 'MultiScaleBackbone')

if not _MISSING:
    from . import engine  # noqa: F401  (registers the hooks)
    from .errors import InputError
    from .models import (  # noqa: F401  (exported: _TRAINING_SIDE)
        EMO, AsymmNet, EdgeNeXt, FeatureInfo, LayerNorm2d,
        LeViT, MultiScaleBackbone)
    __all__ = list(_TRAINING_SIDE) + ['InputError']
else:
    def __getattr__(name):
        if name not in _TRAINING_SIDE:  # submodules: the import system's
            raise AttributeError(name)
        raise ImportError(
            f'backbones.{name} needs the training stack, and '
            f'{", ".join(_MISSING)} cannot be found here: this environment '
            f'can only run deployed artefacts (backbones.runtime)')
