"""Walking a config: the datasets inside wrappers (RepeatDataset,
ConcatDataset, ...), the test pipeline and its resize, the test size and
the class names, the COCO evaluators of a loader.  Every room that reads
these asks here."""
from typing import Iterator, List, Optional, Sequence, Tuple

from ..errors import ConfigError

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def dataset_tree(dataset, where: str = 'dataset'
                 ) -> Iterator[Tuple[str, dict, bool]]:
    """``(config key, dataset, is_leaf)`` of a dataset config and of every
    dataset it wraps (``dataset`` / ``datasets``), outermost first."""
    if not hasattr(dataset, 'get'):
        return
    inner = dataset.get('dataset')
    if hasattr(inner, 'get'):
        children = [(f'{where}.dataset', inner)]
    else:
        children = [(f'{where}.datasets[{i}]', d)
                    for i, d in enumerate(dataset.get('datasets') or [])]
    yield where, dataset, not children
    for key, child in children:
        yield from dataset_tree(child, key)


def leaf_datasets(dataset) -> Iterator[dict]:
    """The datasets inside wrappers, in order."""
    return (d for _, d, leaf in dataset_tree(dataset) if leaf)


def datasets_of(cfg, loaders: Sequence[str] = LOADERS
                ) -> Iterator[Tuple[str, dict]]:
    """``(loader, leaf dataset)`` of each of ``loaders`` the config has."""
    for loader in loaders:
        if cfg.get(loader):
            for dataset in leaf_datasets(cfg[loader].get('dataset')):
                yield loader, dataset


def dataset_class(scope: str, dataset: dict):
    """The registered class of a dataset config (``type`` in ``scope``)."""
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope(scope)
    name = dataset['type']
    if not isinstance(name, str):
        return name
    return DATASETS.get(name if '.' in name else f'{scope}.{name}')


def test_dataset(cfg) -> dict:
    """The (first) dataset the config tests on, inside its wrappers."""
    dataset = next(leaf_datasets(cfg.test_dataloader.get('dataset')), None)
    if dataset is None:
        raise ConfigError('test_dataloader.dataset: the config has no test '
                          'dataset')
    return dataset


def test_resize_step(cfg) -> Optional[dict]:
    """The ``Resize`` step (with a scale) of the test pipeline, the config's
    own dict (changing it changes the config), or None."""
    for step in test_dataset(cfg).get('pipeline') or []:
        if step.get('type') == 'Resize' and step.get('scale'):
            return step
    return None


def test_resize(cfg) -> dict:
    """The test pipeline's ``Resize`` as ``dict(scale=[W, H],
    keep_ratio=...)`` (mmcv's convention).

    Raises:
        ConfigError: the test pipeline resizes to no fixed scale.
    """
    step = test_resize_step(cfg)
    if step is None:
        raise ConfigError('the test pipeline has no Resize with a scale: the '
                          'artefact needs a static input size')
    return dict(scale=list(step['scale']),
                keep_ratio=bool(step.get('keep_ratio', False)))


def test_input_shape(cfg) -> Tuple[int, int]:
    """``(H, W)`` the config evaluates at, without looking at any data: a
    segmentor's crop (its data preprocessor's ``size``), else the test
    resize's scale.

    Raises:
        ConfigError: neither is in the config.
    """
    if cfg.default_scope == 'mmseg':
        size = cfg.model.get('data_preprocessor', {}).get('size') or \
            cfg.get('crop_size')
        if size:
            return tuple(size)
    step = test_resize_step(cfg)
    if step is None:
        raise ConfigError('cannot tell the test size of this config; '
                          'give --shape H W')
    width, height = step['scale']  # mm*'s Resize takes (w, h)
    return height, width


def class_names(cfg) -> List[str]:
    """The test dataset's class names (its ``metainfo``, else its class's
    ``METAINFO``)."""
    dataset = test_dataset(cfg)
    metainfo = dataset.get('metainfo') or {}
    if 'classes' in metainfo:
        return list(metainfo['classes'])
    cls = dataset_class(cfg.default_scope, dataset)
    return list(getattr(cls, 'METAINFO', {}).get('classes', []))


def coco_evaluators(cfg, loader: str) -> Iterator[Tuple[str, dict]]:
    """``(config key, evaluator)`` of each COCO metric scoring ``loader``
    (``val_dataloader`` -> ``val_evaluator``, a dict or a list)."""
    key = loader.replace('dataloader', 'evaluator')
    evaluators = cfg.get(key) or []
    for evaluator in evaluators if isinstance(evaluators, list) else \
            [evaluators]:
        if str(evaluator.get('type', '')).endswith('CocoMetric'):
            yield key, evaluator
