"""mobiledense: mobile vision backbones as MMEngine backbones.

Importing this package registers the backbones in MMEngine's root ``MODELS``
registry and the hooks in its root ``HOOKS`` registry, so ``type='EMO'``
works in mmdet and mmseg configs alike.  It does not import mmdet or mmseg.

Rooms: ``models`` (the backbones), ``checkpoint`` (loading), ``engine``
(hooks), ``analysis`` (parameters and FLOPs), ``export`` (ONNX and deployed
artefacts), ``runtime`` (running artefacts: numpy and a runtime only),
``data`` (dataset checks, toy data), ``cli`` (what the tools share).

On a device that only runs artefacts (no torch installed),
``backbones.runtime`` works and the training side is not loaded.
"""
__version__ = '0.3.0'

try:
    import torch  # noqa: F401
    _NO_TORCH = None
except ImportError as err:  # a device that only runs artefacts
    _NO_TORCH = err

if _NO_TORCH is None:
    from . import engine  # noqa: F401  (registers the hooks)
    from .models import (EMO, AsymmNet, EdgeNeXt, FeatureInfo, InputError,
                         LayerNorm2d, LeViT, MultiScaleBackbone)
    __all__ = ['AsymmNet', 'EdgeNeXt', 'EMO', 'FeatureInfo', 'InputError',
               'LayerNorm2d', 'LeViT', 'MultiScaleBackbone']
else:
    def __getattr__(name):
        raise ImportError(f'backbones.{name} needs torch, which cannot be '
                          f'imported here ({_NO_TORCH}): this environment '
                          f'can only run deployed artefacts '
                          f'(backbones.runtime)')
