"""mobiledense: mobile vision backbones as MMEngine backbones.

Importing this package registers the backbones in MMEngine's root ``MODELS``
registry, so ``type='EMO'`` works in mmdet and mmseg configs alike.  It does
not import mmdet or mmseg.
"""
from .common import LayerNorm2d, MultiScaleBackbone
from .edgenext import EdgeNeXt
from .emo import EMO

__version__ = '0.1.0'
__all__ = ['EdgeNeXt', 'EMO', 'LayerNorm2d', 'MultiScaleBackbone']
