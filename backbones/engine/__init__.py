"""MMEngine extensions: hooks (registered in the root ``HOOKS`` registry)
and atomic checkpoint writes."""
from .hooks import (NonFiniteTrainingError, ReseedHook, StopOnNonFiniteHook,
                    SwitchToDeployHook)

__all__ = ['NonFiniteTrainingError', 'ReseedHook', 'StopOnNonFiniteHook',
           'SwitchToDeployHook']
