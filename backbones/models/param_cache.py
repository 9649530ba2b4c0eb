"""Eval-time cache of tensors computed from parameters alone (LeViT's
attention biases per grid, EdgeNeXt's positional encoding per size): every
eval forward uses it, deploy mode or not."""
from collections import OrderedDict
from typing import Callable, Hashable, Iterable

import torch

from .tracing import sizes_are_free


class ParameterCache:
    """Tensors computed from parameters alone (LeViT's attention biases per
    grid, EdgeNeXt's positional encoding per size), kept for eval mode.

    An entry is used again while the parameters it came from are the same
    tensors, unmodified in place (``Tensor._version``), on the same device
    and dtype; the owner clears the cache when training resumes or weights
    load.  At most ``max_entries`` keys are kept, and fewer when their
    values together exceed ``max_values`` (the newest entry always stays).
    """

    def __init__(self, max_entries: int = 4, max_values: int = 2**27):
        self.max_entries = max_entries
        self.max_values = max_values
        self._entries = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self):
        return iter(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def get(self, key: Hashable, params: Iterable[torch.Tensor],
            compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        if sizes_are_free():  # the table depends on a traced size: in-graph
            return compute()
        stamp = tuple((id(p), p._version, p.device, p.dtype) for p in params)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == stamp:
            self._entries.move_to_end(key)
            return entry[1]
        with torch.no_grad():
            value = compute()
        self._entries[key] = (stamp, value)
        while len(self._entries) > 1 and (
                len(self._entries) > self.max_entries or
                sum(v.numel() for _, v in self._entries.values()) >
                self.max_values):
            self._entries.popitem(last=False)
        return value


class ClearsCacheOnTrainOrLoad:
    """Mixin for a module holding a :class:`ParameterCache` in
    ``param_cache``: training or loading weights empties it."""

    def parameter_derived(self, key: Hashable, params: Iterable[torch.Tensor],
                          compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``compute()`` afresh in training (gradients must reach the
        parameters), from the cache in eval mode."""
        if self.training:
            return compute()
        return self.param_cache.get(key, params, compute)

    def train(self, mode: bool = True):
        if mode:
            self.param_cache.clear()
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs):
        self.param_cache.clear()
        super()._load_from_state_dict(*args, **kwargs)
