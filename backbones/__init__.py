"""mobiledense: mobile vision backbones as MMEngine backbones.

Importing this package registers the backbones in MMEngine's root ``MODELS``
registry, so ``type='EMO'`` works in mmdet and mmseg configs alike.  It does
not import mmdet or mmseg.
"""
from . import hooks  # noqa: F401  (registers the hooks)
from .asymmnet import AsymmNet
from .common import LayerNorm2d, MultiScaleBackbone
from .edgenext import EdgeNeXt
from .emo import EMO
from .levit import LeViT

__version__ = '0.2.0'
__all__ = ['AsymmNet', 'EdgeNeXt', 'EMO', 'LayerNorm2d', 'LeViT',
           'MultiScaleBackbone']
