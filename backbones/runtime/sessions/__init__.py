"""The runtimes an artefact can run on, one module per runtime: each has
``FILES`` (the roles of the files its artefacts hold), ``PROFILER`` (how its
per-operator times are taken, or None where they cannot be) and
``Session(folder, manifest, threads, profile)`` with ``run(inputs) ->
[outputs]`` for the graph's inputs by name (the ``(1, 3, H, W)`` float32
image first); built with ``profile=True``, ``op_times(skip_runs=0)`` gives
the seconds per operator type over the runs after the first ``skip_runs``
(the warm-up; the runtime's own profiler's, or ncnn's layer-by-layer
timing), and a module may name its layout operators
(``LAYOUT_OPS``). :func:`open_session` builds one. A module imports its
runtime only when a session is built, so an artefact needs just its own.
Adding a runtime: a module here, one in :mod:`backbones.export.backends`,
and its name in :data:`BACKENDS`."""
import importlib
from types import ModuleType

from ...errors import ArtefactError

BACKENDS = ('onnxruntime', 'openvino', 'ncnn', 'mnn', 'executorch', 'litert')

# layout operators: transposes, reorders, reshapes, slices, splits and
# pads, by the names the runtimes give them after their graph passes (a
# concatenation is an architecture's, not a formulation's, and not here);
# a runtime whose names mean other things has its own (``layout_ops``)
LAYOUT_OPS = frozenset((
    'Transpose', 'Reorder', 'ReorderInput', 'ReorderOutput', 'Reshape',
    'Squeeze', 'Unsqueeze', 'Flatten', 'Slice', 'StridedSlice', 'Split',
    'VariadicSplit', 'Pad'))


def backend_module(backend: str, package: str = __name__,
                   error: type = ArtefactError) -> ModuleType:
    """The module of ``backend`` in ``package`` (this one, or the export
    side's :mod:`backbones.export.backends`).

    Raises:
        ``error`` (ArtefactError by default): an unknown backend.
    """
    if backend not in BACKENDS:
        raise error(f'unknown backend {backend!r}: choose one of '
                    f'{", ".join(BACKENDS)}')
    return importlib.import_module(f'{package}.{backend}')


def layout_ops(backend: str) -> frozenset:
    """The names of ``backend``'s layout operators in its profiles."""
    return getattr(backend_module(backend), 'LAYOUT_OPS', LAYOUT_OPS)


def open_session(backend: str, folder: str, manifest: dict,
                 threads: int = 0, profile: bool = False):
    """``backend``'s ``Session`` of the artefact in ``folder``.

    Raises:
        ArtefactError: an unknown backend, or ``profile`` for a runtime
            without a profiler.
    """
    module = backend_module(backend)
    if profile and module.PROFILER is None:
        raise ArtefactError(f'{backend} has no per-operator profiler in '
                            f'its Python package')
    return module.Session(folder, manifest, threads, profile)


def require_runtime(module: str, backend: str) -> ModuleType:
    """Import a runtime's Python package, or say how to install it (the
    extra of that runtime alone: no torch, no mm*)."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ArtefactError(
            f'this artefact runs on {backend}, which is not installed here '
            f'({err}); pip install "mobiledense[{backend}]"') from err


def check_input_size(model_size, manifest: dict, model_file: str) -> None:
    """The ``(H, W)`` a model file declares (None or a non-int entry where
    it is free) against the manifest's ``input.size``.

    Raises:
        ArtefactError: they disagree (an edited manifest or a file
            swapped in from another artefact).
    """
    wanted = manifest['input']['size']
    static = model_size is not None and all(
        isinstance(s, int) and s > 0 for s in model_size)
    if not static:
        return  # a file of free size takes whatever size the manifest says
    if wanted is None:
        raise ArtefactError(
            f'{model_file} takes {list(model_size)} inputs but the manifest '
            f'says the size is free: the manifest does not belong to it')
    if list(model_size) != list(wanted):
        raise ArtefactError(
            f'{model_file} takes {list(model_size)} inputs but the manifest '
            f'says input.size {list(wanted)}: the manifest does not belong '
            f'to it')
