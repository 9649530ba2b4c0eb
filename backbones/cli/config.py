"""Configs and runners: loading a config as the tools do, the run's work
directory, the channel check, building a model or a backbone without
pretrained files, and the MMEngine runner."""
import ast
import os
import os.path as osp
from typing import List, Optional, Sequence

from .errors import ToolError


def load_config(path, cfg_options: Optional[dict] = None):
    """``Config.fromfile`` plus ``--cfg-options``, honouring custom_imports.

    ``Config.fromfile`` imports a config's ``custom_imports`` while parsing
    the file, so ones that arrive through ``--cfg-options`` would otherwise
    never be imported.
    """
    from mmengine.config import Config
    from mmengine.utils import import_modules_from_strings
    path = str(path)
    if not osp.isfile(path):
        raise ToolError(f'config file not found: {path}')
    if not path.endswith('.py'):
        raise ToolError(f'{path} is not a Python config (.py) file')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as err:
        where = err.filename if err.filename not in (None, '<unknown>') \
            else path
        raise ToolError(f'{where}, line {err.lineno}: {err.msg}') from err
    except Exception as err:  # a missing base file, an error in the config
        raise ToolError(f'{path} cannot be loaded: {one_line(err)}') from err
    if cfg_options:
        try:
            cfg.merge_from_dict(cfg_options)
        except Exception as err:
            raise ToolError(f'--cfg-options cannot be applied: '
                            f'{one_line(err)}') from err
        if any(key == 'custom_imports' or key.startswith('custom_imports.')
               for key in cfg_options):
            import_modules_from_strings(**cfg.custom_imports)
    return cfg


def one_line(err: BaseException) -> str:
    """``Type: message`` of an exception on one line."""
    text = ' '.join(str(err).split()) or '(no message)'
    return f'{type(err).__name__}: {text}'


def check_run_values(cfg, loaders: Sequence[str]) -> None:
    """Values the runner would only refuse deep inside (a DataLoader's
    batch size, an optimizer's learning rate), named by their config key.
    """
    for name in loaders:
        loader = cfg.get(name) or {}
        for key, least in (('batch_size', 1), ('num_workers', 0)):
            value = loader.get(key, least)
            if not isinstance(value, int) or isinstance(value, bool) or \
                    value < least:
                raise ToolError(f'{name}.{key} must be a whole number of '
                                f'at least {least}, got {value!r}')
    if 'train_dataloader' in loaders:
        train_cfg = cfg.get('train_cfg') or {}
        for key in ('max_epochs', 'max_iters', 'val_interval'):
            value = train_cfg.get(key, 1)
            if not isinstance(value, int) or isinstance(value, bool) or \
                    value < 1:
                raise ToolError(f'train_cfg.{key} must be a whole number '
                                f'of at least 1, got {value!r}')
        optimizer = (cfg.get('optim_wrapper') or {}).get('optimizer') or {}
        lr = optimizer.get('lr', 0)
        if not isinstance(lr, (int, float)) or lr < 0:
            raise ToolError(f'optim_wrapper.optimizer.lr must be a number '
                            f'>= 0, got {lr!r}')


def default_work_dir(config_path: str) -> str:
    return osp.join('work_dirs', osp.splitext(osp.basename(config_path))[0])


def load_run_config(args):
    """The config of a train/test run: ``load_config`` plus the launcher and
    work directory from the command line (``--work-dir``, else the config's
    ``work_dir``, else ``work_dirs/<config name>``)."""
    # torch.distributed.launch passes --local_rank; MMEngine reads the env.
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if args.launcher == 'pytorch':
        missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR')
                   if k not in os.environ]
        if missing:
            raise ToolError(
                f'--launcher pytorch needs the environment torchrun sets '
                f'({", ".join(missing)} missing): start it with '
                f'tools/dist_train.sh CONFIG GPUS (or dist_test.sh), or '
                f'torchrun --nproc_per_node GPUS tools/train.py ... '
                f'--launcher pytorch')
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or \
        default_work_dir(args.config)
    return cfg


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
                 strict_data: bool = False):
    """Check the config's values, channels, classes and the data and
    annotation files of ``loaders`` (:mod:`backbones.data.validate`), start
    a CPU process group if needed (:func:`setup_cpu_distributed`) and build
    its MMEngine runner."""
    import sys

    from ..data.checks import check_classes, check_data
    from ..data.validate import validate
    from .config_check import check_lazy_parts
    check_run_values(cfg, loaders)
    check_lazy_parts(cfg, loaders)
    check_channels(cfg)
    check_classes(cfg, loaders)
    check_data(cfg, loaders)
    validate(cfg, loaders, strict_data,
             report=lambda line: print(line, file=sys.stderr))
    setup_cpu_distributed(cfg)
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    try:
        return Runner.from_cfg(cfg) if 'runner_type' not in cfg else \
            RUNNERS.build(cfg)
    except KeyError as err:  # an unknown registry type
        if 'registry' not in str(err):
            raise
        raise ToolError(f'config: {one_line(err)}') from err


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
        ToolError: a neck or head expects other channels.
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
        raise ToolError(f'model.backbone: {err}') from err
    problems = _channel_problems(model, list(backbone.out_channels))
    if problems:
        raise ToolError(
            f"channel mismatch in the config: backbone {backbone_cfg['type']}"
            f"(arch={backbone_cfg.get('arch')!r}, out_indices="
            f'{backbone.out_indices}) gives {backbone.out_channels}, but '
            + '; '.join(problems) + '.')


def build_model(cfg, init_weights: bool = False):
    """Build ``cfg.model`` in its registry scope without pretrained weights.

    The backbone's ``Pretrained`` init (and mmseg's ``model.pretrained``) is
    dropped, so sizes, speed and exports can be measured without the
    ImageNet files; ``init_weights`` runs the remaining initialisation.
    (Deploy mode, when wanted, is switched on after loading weights:
    :func:`backbones.deploy.switch_model_to_deploy`.)
    """
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model.copy()
    if model_cfg.get('backbone'):
        model_cfg.backbone.init_cfg = None
    model_cfg.pop('pretrained', None)
    # One process: SyncBN (stock mmseg heads) becomes BN, as MMEngine's
    # runner does when it is not distributed.
    model = revert_sync_batchnorm(MODELS.build(model_cfg))
    if init_weights:
        model.init_weights()
    return model


def build_model_with_weights(cfg, checkpoint: str):
    """``cfg.model`` (eval mode) holding a training checkpoint of that
    config: the file is checked first (missing, damaged, untrusted, another
    model) and loaded strictly."""
    from mmengine.runner import load_checkpoint

    from ..checkpoint import check_model_checkpoint
    from .checkpoints import check_checkpoint
    check_checkpoint(checkpoint)
    model = build_model(cfg).eval()
    check_model_checkpoint(model, checkpoint)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                    logger='silent')
    return model


def build_backbone(spec: str, **overrides):
    """One of our backbones from ``TYPE:ARCH[:key=value,...]``, e.g.
    ``AsymmNet:small:widen_factor=0.5`` (values are Python literals).

    Raises:
        ToolError: an unknown type, or arguments the backbone refuses.
    """
    from mmengine.registry import MODELS

    from .. import models  # noqa: F401  (registers the types)

    def literal(text):
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text

    parts = spec.split(':')
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ToolError(f'{spec!r}: a backbone is TYPE:ARCH[:key=value,...]'
                        f', e.g. EMO:1M')
    # An arch is a name ('128' included) unless written as a dict.
    arch = literal(parts[1]) if parts[1].startswith('{') else parts[1]
    cfg = dict(type=parts[0], arch=arch)
    for item in filter(None, ':'.join(parts[2:]).split(',')):
        key, sep, value = item.partition('=')
        if not sep:
            raise ToolError(f'{spec!r}: {item!r} is not key=value')
        cfg[key] = literal(value)
    cfg.update(overrides)
    if not isinstance(getattr(MODELS.get(parts[0]), 'out_channels', None),
                      property):
        raise ToolError(f'{spec!r}: {parts[0]!r} is not one of our '
                        f'backbones (EMO, EdgeNeXt, LeViT, AsymmNet)')
    try:
        return MODELS.build(cfg)
    except (ValueError, TypeError) as err:
        raise ToolError(f'{spec!r}: {err}')
