"""Configs: loading (``loading``), walking (``walk``: wrapped datasets, the
test resize and size, class names), checking before anything is built
(``checks``) and building models and backbones (``building``)."""
from .building import build_backbone, build_model, build_model_with_weights
from .checks import check_channels, check_lazy_parts, check_run_values
from .loading import load_config
from .walk import (LOADERS, class_names, dataset_class, dataset_tree,
                   datasets_of, leaf_datasets, test_dataset, test_input_shape,
                   test_resize, test_resize_step)

__all__ = ['LOADERS', 'build_backbone', 'build_model',
           'build_model_with_weights', 'check_channels', 'check_lazy_parts',
           'check_run_values', 'class_names', 'dataset_class', 'dataset_tree',
           'datasets_of', 'leaf_datasets', 'load_config', 'test_dataset',
           'test_input_shape', 'test_resize', 'test_resize_step']
