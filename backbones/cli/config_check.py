"""What a config asks the runner to build lazily (datasets and their
pipelines, the optimizer, schedulers, hooks, evaluators), checked before a
run starts: every ``type`` is in its registry and every other key is an
argument of that class.

MMEngine builds these only once training or testing begins, and then a
misspelt type surfaces as ``None is not a callable object`` and a key the
class does not take as a ``TypeError`` from its ``__init__``, both as
tracebacks.  The model is not walked: the runner builds it at once, and
:func:`backbones.cli.config.build_runner` turns its registry errors into
one line already.
"""
import inspect
from typing import Iterator, Sequence, Tuple

from .errors import ToolError

# (config key, registry name in mmengine.registry, keys that the runner
# reads itself instead of passing them to the class)
TOP_LEVEL = (('optim_wrapper', 'OPTIM_WRAPPERS',
              ('optimizer', 'paramwise_cfg', 'constructor')),
             ('optim_wrapper.optimizer', 'OPTIMIZERS', ()),
             ('param_scheduler', 'PARAM_SCHEDULERS',
              ('convert_to_iter_based', )),
             ('custom_hooks', 'HOOKS', ('priority', )),
             ('default_hooks', 'HOOKS', ('priority', )),
             ('val_evaluator', 'METRICS', ()),
             ('test_evaluator', 'METRICS', ()))


def _at(cfg, dotted: str):
    value = cfg
    for key in dotted.split('.'):
        value = value.get(key) if hasattr(value, 'get') else None
        if value is None:
            return None
    return value


def _items(where: str, value) -> Iterator[Tuple[str, dict]]:
    """``(key, dict)`` of one config value that is a dict with ``type``, a
    list of them, or a dict of them (``default_hooks``)."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _items(f'{where}[{i}]', item)
    elif hasattr(value, 'get') and 'type' in value:
        yield where, value
    elif hasattr(value, 'items'):
        for key, item in value.items():
            if hasattr(item, 'get') and 'type' in item:
                yield f'{where}.{key}', item


def _datasets(where: str, dataset) -> Iterator[Tuple[str, dict]]:
    """A dataset, the datasets it wraps and its pipeline transforms."""
    if not hasattr(dataset, 'get') or 'type' not in dataset:
        return
    yield where, dataset, 'DATASETS'
    for i, step in enumerate(dataset.get('pipeline') or []):
        if hasattr(step, 'get') and 'type' in step:
            yield f'{where}.pipeline[{i}]', step, 'TRANSFORMS'
    if hasattr(dataset.get('dataset'), 'get'):
        yield from _datasets(f'{where}.dataset', dataset['dataset'])
    for i, inner in enumerate(dataset.get('datasets') or []):
        yield from _datasets(f'{where}.datasets[{i}]', inner)


def _lookup(scope: str, registry_name: str, type_name):
    """The class of ``type_name`` in the scope's registry (``mmdet.registry``
    imports the modules that register into it when it is searched)."""
    import importlib
    if not isinstance(type_name, str):
        return type_name  # a class given directly
    registries = importlib.import_module(f'{scope}.registry')
    return getattr(registries, registry_name).get(type_name)


def _unknown_arguments(cls, cfg: dict, nested: Sequence[str]) -> list:
    """Keys of ``cfg`` that ``cls`` (a class or a function) does not take;
    none when it takes ``**kwargs``."""
    try:
        signature = inspect.signature(cls.__init__ if inspect.isclass(cls)
                                      else cls)
    except (TypeError, ValueError):
        return []
    params = signature.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return []
    names = {p.name for p in params}
    return sorted(k for k in cfg if k not in names and k != 'type' and
                  k not in nested and not k.startswith('_'))


def _check(scope: str, where: str, cfg: dict, registry_name: str,
           nested: Sequence[str] = ()) -> None:
    cls = _lookup(scope, registry_name, cfg['type'])
    registry = registry_name.lower().replace('_', ' ')
    if cls is None:
        raise ToolError(f'{where}.type: {cfg["type"]!r} is not in the '
                        f'{registry} registry (a misspelt name, or a '
                        f'custom_imports entry missing)')
    unknown = _unknown_arguments(cls, cfg, nested)
    if unknown:
        name = getattr(cls, '__name__', cfg['type'])
        raise ToolError(f'{where}: {name} takes no argument '
                        f'{", ".join(map(repr, unknown))}')


def check_lazy_parts(cfg, loaders: Sequence[str]) -> None:
    """Check the lazily built parts of ``cfg`` the run needs: the datasets
    of ``loaders``, and (when training) the optimizer, schedulers and
    hooks; evaluators of the loaders' evaluators.

    Raises:
        ToolError: one line naming the config key.
    """
    from mmengine.registry import init_default_scope
    scope = cfg.default_scope
    init_default_scope(scope)
    training = 'train_dataloader' in loaders
    for loader in loaders:
        dataset = (cfg.get(loader) or {}).get('dataset')
        for where, item, registry in _datasets(f'{loader}.dataset', dataset):
            _check(scope, where, item, registry,
                   nested=('dataset', 'datasets'))
    wanted = {'val_evaluator': 'val_dataloader' in loaders,
              'test_evaluator': 'test_dataloader' in loaders}
    for key, registry, read_by_runner in TOP_LEVEL:
        if not wanted.get(key, training):
            continue
        for where, item in _items(key, _at(cfg, key)):
            _check(scope, where, item, registry, read_by_runner)
