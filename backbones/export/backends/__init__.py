"""The export side of each runtime, one module per runtime (the run side is
:mod:`backbones.runtime.sessions`; both are listed by ``BACKENDS`` there).

Each module has:

* ``FREE_SIZE``: whether its artefacts may leave the input size free;
* ``convert(graph, example, folder, input_names, output_names, free_size)
  -> {role: file name}``: the runtime's model files of ``graph`` in
  ``folder``;
* ``INT8``: the name of its int8 tool, and ``quantize(folder, manifest,
  inputs, graph) -> dict(files=..., kept_in_float=N)`` (``inputs``: the
  calibration feeds by input name; ``graph``: the module the fp32 files
  were made from, for tools that quantize before converting); or ``INT8 =
  None`` and ``NO_INT8``, the reason there is none.
"""
from types import ModuleType
from typing import Set

from ...errors import ExportError
from ...runtime.sessions import backend_module


def export_backend(backend: str) -> ModuleType:
    """The export module of ``backend``.

    Raises:
        ExportError: an unknown backend.
    """
    return backend_module(backend, __name__, ExportError)


def last_layers(consumers_of_outputs, is_layer, inputs_of) -> Set[str]:
    """Names of the layers nearest to the graph outputs: walk back from the
    outputs through everything that is not a layer (what the int8 tools
    keep in float, as accuracy needs)."""
    found, seen = set(), set()
    stack = list(consumers_of_outputs)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if is_layer(node):
            found.add(node)
        else:
            stack.extend(inputs_of(node))
    return found
