"""MMEngine runners for our tools: the config checked first (values, lazily
built parts, channels, classes, data and annotation files), a CPU process
group where mmengine's ``pytorch`` launcher would need CUDA."""
from typing import Sequence

from ..errors import ConfigError, LibraryError, from_library, one_line


def setup_cpu_distributed(cfg) -> None:
    """Let MMEngine's ``pytorch`` launcher run on hosts without CUDA.

    mmengine 0.10.7 calls ``torch.cuda.set_device`` before starting the
    process group and gives DDP a device id, both of which fail on CPU.
    Starting a gloo group here makes the runner skip its own start, and an
    explicit wrapper config drops the device id.  GPU runs are untouched.
    """
    import torch
    import torch.distributed as dist
    if cfg.get('launcher') != 'pytorch' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group('gloo')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))


def build_runner(cfg, loaders: Sequence[str] = ('train_dataloader',
                                                'val_dataloader'),
                 strict_data: bool = False, report=print):
    """Check the config's values, channels, classes and the data and
    annotation files of ``loaders`` (:mod:`backbones.data.validate`), start
    a CPU process group if needed (:func:`setup_cpu_distributed`) and build
    its MMEngine runner."""
    from ..config.checks import (check_channels, check_launcher,
                                 check_lazy_parts, check_metrics,
                                 check_run_values)
    from ..data.checks import check_classes, check_data
    from ..data.validate import validate
    check_run_values(cfg, loaders)
    check_launcher(cfg)
    check_metrics(cfg, loaders)
    check_lazy_parts(cfg, loaders)
    check_channels(cfg)
    check_classes(cfg, loaders)
    check_data(cfg, loaders)
    validate(cfg, loaders, strict_data, report=report)
    setup_cpu_distributed(cfg)
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    try:
        with from_library(f'{cfg.filename}: building the runner'):
            return Runner.from_cfg(cfg) if 'runner_type' not in cfg else \
                RUNNERS.build(cfg)
    except LibraryError as err:  # an unknown registry type
        if isinstance(err.__cause__, KeyError) and \
                'registry' in str(err.__cause__):
            raise ConfigError(f'config: {one_line(err.__cause__)}') \
                from err.__cause__
        raise
