"""Eval-time cache of tensors computed from parameters alone (LeViT's
attention biases per grid, EdgeNeXt's positional encoding per size): every
eval forward uses it, deploy mode or not.  For ``torch.export``, which
swaps the parameters for stand-ins and so would trace the tables' whole
computation, :func:`tables_as_buffers` stores them as buffers for one
input size."""
import contextlib
from collections import OrderedDict
from typing import Callable, Hashable, Iterable, Iterator

import torch
import torch.nn as nn

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

    def value(self, key: Hashable) -> torch.Tensor:
        return self._entries[key][1]

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
        buffer = getattr(self, '_table_buffers', {}).get(key)
        if buffer is not None:  # under tables_as_buffers
            return getattr(self, buffer)
        return self.param_cache.get(key, params, compute)

    def train(self, mode: bool = True):
        if mode:
            self.param_cache.clear()
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs):
        self.param_cache.clear()
        super()._load_from_state_dict(*args, **kwargs)


@contextlib.contextmanager
def tables_as_buffers(module: nn.Module,
                      example: tuple) -> Iterator[nn.Module]:
    """Within the block, every parameter-derived table that ``module``
    (in eval mode) uses for the inputs ``example`` is a non-persistent
    buffer of its owner, read from there: ``torch.export`` stores such a
    buffer as a constant of the program, where it would otherwise trace the
    table's computation (LeViT's bias gathers at every block).  The export
    is then for the size of ``example`` only.  Restored afterwards; the
    same function (the backbone contract test)."""
    owners = [m for m in module.modules()
              if isinstance(m, ClearsCacheOnTrainOrLoad)]
    for owner in owners:
        owner.param_cache.clear()  # what is left is what this size uses
    with torch.no_grad():
        module(*example)
    try:
        for owner in owners:
            owner._table_buffers = {}
            for index, key in enumerate(list(owner.param_cache)):
                name = f'parameter_table_{index}'
                owner.register_buffer(name, owner.param_cache.value(key),
                                      persistent=False)
                owner._table_buffers[key] = name
        yield module
    finally:
        for owner in owners:
            for name in getattr(owner, '_table_buffers', {}).values():
                del owner._buffers[name]
            owner._table_buffers = {}
