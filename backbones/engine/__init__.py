"""MMEngine extensions: hooks (registered in the root ``HOOKS`` registry)."""
from .hooks import ReseedHook, SwitchToDeployHook

__all__ = ['ReseedHook', 'SwitchToDeployHook']
