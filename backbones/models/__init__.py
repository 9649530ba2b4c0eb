"""The backbones: the shared base, layers, deploy folds and one file per
family.  Importing this package registers every family (and ``LN2d``) in
MMEngine's root ``MODELS`` registry."""
from .asymmnet import AsymmNet
from .base import FeatureInfo, InputError, MultiScaleBackbone
from .edgenext import EdgeNeXt
from .emo import EMO
from .layers import LayerNorm2d
from .levit import LeViT

__all__ = ['AsymmNet', 'EdgeNeXt', 'EMO', 'FeatureInfo', 'InputError',
           'LayerNorm2d', 'LeViT', 'MultiScaleBackbone']
