"""Checks of a config before anything is built from it, each a one-line
:class:`~backbones.errors.ConfigError` naming the config key:

* values the runner would refuse deep inside (:func:`check_run_values`);
* what the runner builds lazily (datasets and their pipelines, the
  optimizer, schedulers, hooks, evaluators): every ``type`` is in its
  registry and every other key is an argument of that class
  (:func:`check_lazy_parts`).  MMEngine builds these only once training or
  testing begins, and then a misspelt type surfaces as ``None is not a
  callable object`` and a key the class does not take as a ``TypeError``
  from its ``__init__``, both as tracebacks;
* the backbone's output channels against what the neck or heads expect
  (:func:`check_channels`);
* a launcher outside its environment (:func:`check_launcher`) and COCO
  metrics the model cannot produce (:func:`check_metrics`).
"""
import inspect
import os
from typing import Iterator, List, Sequence, Tuple

from ..errors import ConfigError
from .walk import coco_evaluators, dataset_tree

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


def _datasets(where: str, dataset) -> Iterator[Tuple[str, dict, str]]:
    """A dataset, the datasets it wraps and their pipeline transforms, each
    with its config key and registry."""
    for key, item, _ in dataset_tree(dataset, where):
        if 'type' not in item:
            continue
        yield key, item, 'DATASETS'
        for i, step in enumerate(item.get('pipeline') or []):
            if hasattr(step, 'get') and 'type' in step:
                yield f'{key}.pipeline[{i}]', step, 'TRANSFORMS'


def _lookup(scope: str, registry_name: str, type_name):
    """The class of ``type_name`` in the scope's registry (``mmdet.registry``
    imports the modules that register into it when it is searched)."""
    import importlib
    if not isinstance(type_name, str):
        return type_name  # a class given directly
    registries = importlib.import_module(f'{scope}.registry')
    return getattr(registries, registry_name).get(type_name)


# classes whose ``**kwargs`` end up as the arguments of one function: a
# key that function does not take fails only when it is first called
# (CheckpointHook's, at the first save, after a whole epoch)
KWARGS_FORWARDED_TO = {
    'CheckpointHook': ('mmengine.runner', 'Runner', 'save_checkpoint'),
}


def _forwarded_parameters(cls):
    """Parameters of the function ``cls``'s ``**kwargs`` go to, or None."""
    target = KWARGS_FORWARDED_TO.get(getattr(cls, '__name__', ''))
    if target is None:
        return None
    import importlib
    module, owner, name = target
    function = getattr(getattr(importlib.import_module(module), owner), name)
    return inspect.signature(function).parameters.values()


def _unknown_arguments(cls, cfg: dict, nested: Sequence[str]) -> list:
    """Keys of ``cfg`` that ``cls`` (a class or a function) does not take;
    none when it takes ``**kwargs`` (unless :data:`KWARGS_FORWARDED_TO`
    says where they go)."""
    try:
        signature = inspect.signature(cls.__init__ if inspect.isclass(cls)
                                      else cls)
    except (TypeError, ValueError):
        return []
    params = list(signature.parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        forwarded = _forwarded_parameters(cls)
        if forwarded is None:
            return []
        params += list(forwarded)
    names = {p.name for p in params}
    return sorted(k for k in cfg if k not in names and k != 'type' and
                  k not in nested and not k.startswith('_'))


def _check(scope: str, where: str, cfg: dict, registry_name: str,
           nested: Sequence[str] = ()) -> None:
    cls = _lookup(scope, registry_name, cfg['type'])
    registry = registry_name.lower().replace('_', ' ')
    if cls is None:
        raise ConfigError(f'{where}.type: {cfg["type"]!r} is not in the '
                        f'{registry} registry (a misspelt name, or a '
                        f'custom_imports entry missing)')
    unknown = _unknown_arguments(cls, cfg, nested)
    if unknown:
        name = getattr(cls, '__name__', cfg['type'])
        raise ConfigError(f'{where}: {name} takes no argument '
                        f'{", ".join(map(repr, unknown))}')


def check_lazy_parts(cfg, loaders: Sequence[str]) -> None:
    """Check the lazily built parts of ``cfg`` the run needs: the datasets
    of ``loaders``, and (when training) the optimizer, schedulers and
    hooks; evaluators of the loaders' evaluators.

    Raises:
        ConfigError: one line naming the config key.
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


def check_run_values(cfg, loaders: Sequence[str]) -> None:
    """Values the runner would only refuse deep inside (a DataLoader's
    batch size, an optimizer's learning rate), named by their config key.
    """
    for name in loaders:
        loader = cfg.get(name) or {}
        for where, dataset, _ in dataset_tree(loader.get('dataset'),
                                              f'{name}.dataset'):
            times = dataset.get('times', 1)  # RepeatDataset and friends
            if not isinstance(times, int) or isinstance(times, bool) or \
                    times < 1:
                raise ConfigError(f'{where}.times must be a whole number of '
                                  f'at least 1, got {times!r}')
        for key, least in (('batch_size', 1), ('num_workers', 0)):
            value = loader.get(key, least)
            if not isinstance(value, int) or isinstance(value, bool) or \
                    value < least:
                raise ConfigError(f'{name}.{key} must be a whole number of '
                                f'at least {least}, got {value!r}')
    if 'train_dataloader' in loaders:
        train_cfg = cfg.get('train_cfg') or {}
        for key in ('max_epochs', 'max_iters', 'val_interval'):
            value = train_cfg.get(key, 1)
            if not isinstance(value, int) or isinstance(value, bool) or \
                    value < 1:
                raise ConfigError(f'train_cfg.{key} must be a whole number '
                                f'of at least 1, got {value!r}')
        seed = (cfg.get('randomness') or {}).get('seed')
        if seed is not None and (not isinstance(seed, int) or
                                 isinstance(seed, bool)):
            raise ConfigError(f'randomness.seed must be a whole number or '
                              f'None, got {seed!r}')
        optimizer = (cfg.get('optim_wrapper') or {}).get('optimizer') or {}
        lr = optimizer.get('lr', 0)
        if not isinstance(lr, (int, float)) or lr < 0:
            raise ConfigError(f'optim_wrapper.optimizer.lr must be a number '
                            f'>= 0, got {lr!r}')


# mmengine's launchers read their rank from these (mmengine.dist)
LAUNCHER_ENVIRONMENT = {
    'slurm': ('SLURM_PROCID', 'a Slurm job: tools/slurm_train.sh or srun'),
    'pytorch': ('RANK', 'torchrun (tools/dist_train.sh)'),
    'mpi': ('OMPI_COMM_WORLD_RANK', 'mpirun'),
}
# COCO metrics that need a model with a mask head
MASK_METRICS = ('segm', )


def check_launcher(cfg) -> None:
    """A launcher outside the environment it starts from (mmengine reads
    the rank from variables only that environment sets)."""
    launcher = cfg.get('launcher', 'none')
    if launcher in (None, 'none'):
        return
    if launcher not in LAUNCHER_ENVIRONMENT:
        raise ConfigError(f'launcher {launcher!r} is none of none, '
                          f'{", ".join(LAUNCHER_ENVIRONMENT)}')
    variable, how = LAUNCHER_ENVIRONMENT[launcher]
    if variable not in os.environ:
        raise ConfigError(f'--launcher {launcher} outside the environment it '
                          f'starts in (no {variable}): run it through {how}')


def check_metrics(cfg, loaders: Sequence[str]) -> None:
    """COCO metrics the model cannot produce (mask metrics of a model
    without a mask head): mmdet would find out after a whole epoch."""
    model = cfg.get('model') or {}
    has_masks = any('mask' in key for key in
                    (model.get('roi_head') or {}).keys()) or \
        'mask_head' in model
    for loader in loaders:
        for name, evaluator in coco_evaluators(cfg, loader):
            metrics = evaluator.get('metric', 'bbox')
            metrics = [metrics] if isinstance(metrics, str) else metrics
            wrong = [m for m in metrics if m in MASK_METRICS]
            if wrong and not has_masks:
                raise ConfigError(
                    f'{name}.metric asks for {", ".join(wrong)}, which a '
                    f'{model.get("type")} without a mask head cannot '
                    f'produce')


def _as_list(value) -> List[int]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _channel_problems(model: dict, produced: List[int]) -> List[str]:
    """What the neck (or, without a neck, the heads) expect but do not get."""
    neck = model.get('neck')
    if neck:
        first = neck[0] if isinstance(neck, (list, tuple)) else neck
        expected = _as_list(first.get('in_channels', produced))
        return [] if expected == produced else \
            [f'neck.in_channels is {tuple(expected)}']
    problems = []
    for name in ('decode_head', 'auxiliary_head'):
        heads = model.get(name) or []
        many = isinstance(heads, (list, tuple))
        for i, head in enumerate(heads if many else [heads]):
            if 'in_channels' not in head:
                continue
            where = f'{name}[{i}]' if many else name
            index = head.get('in_index', -1)
            if any(not -len(produced) <= j < len(produced)
                   for j in _as_list(index)):
                problems.append(f'{where}.in_index={index} is out of range '
                                f'for {len(produced)} backbone outputs')
                continue
            got = [produced[j] for j in _as_list(index)]
            expected = _as_list(head['in_channels'])
            if got != expected:
                problems.append(f'{where}.in_channels is {tuple(expected)} '
                                f'for in_index={index} (backbone gives '
                                f'{tuple(got)})')
    return problems


def check_channels(cfg) -> None:
    """Compare the backbone's output channels with what the config's neck
    or heads expect, so a wrong channel count stops with a clear message
    instead of a shape error deep in a forward pass.

    Only backbones that report ``out_channels`` (ours) are checked.

    Raises:
        ConfigError: a neck or head expects other channels.
    """
    from mmengine.registry import MODELS
    model = cfg.get('model', {})
    backbone_cfg = dict(model.get('backbone') or {})
    cls = backbone_cfg.get('type')
    cls = MODELS.get(cls) if isinstance(cls, str) else cls
    if cls is None or not isinstance(getattr(cls, 'out_channels', None),
                                     property):
        return
    backbone_cfg['init_cfg'] = None  # only the shapes matter here
    backbone_cfg.pop('pretrained', None)
    try:
        backbone = MODELS.build(backbone_cfg)
    except (ValueError, TypeError) as err:
        raise ConfigError(f'model.backbone: {err}') from err
    problems = _channel_problems(model, list(backbone.out_channels))
    if problems:
        raise ConfigError(
            f"channel mismatch in the config: backbone {backbone_cfg['type']}"
            f"(arch={backbone_cfg.get('arch')!r}, out_indices="
            f'{backbone.out_indices}) gives {backbone.out_channels}, but '
            + '; '.join(problems) + '.')
