"""Support code shared by the scripts in ``tools/``.

Kept inside the package so every tool behaves the same: the same start-up
checks, the same config handling (``--cfg-options``, ``custom_imports``), the
same channel and checkpoint checks.
"""
import argparse
import ctypes
import ctypes.util
import importlib.util
import os
import os.path as osp
import subprocess
import sys
import warnings
from typing import List, Optional, Sequence

# mmengine imports pkg_resources for its `mmdet::` config bases; setuptools
# < 81 (which we pin for that reason) warns about it on every import.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated',
                        category=UserWarning)


class ToolError(Exception):
    """A user-facing error: :func:`run_tool` prints it without a traceback
    and exits with status 2."""


def check_torchvision() -> None:
    """Stop early if an unusable torchvision is installed.

    mmengine's Runner imports torchvision while collecting environment info;
    a torchvision built for another torch (e.g. the CUDA wheel next to a CPU
    torch) makes every run crash there.  The import is tried in a child
    process because a broken binary extension may abort the interpreter.
    """
    spec = importlib.util.find_spec('torchvision')
    if spec is None:
        return
    probe = subprocess.run([sys.executable, '-c', 'import torchvision'],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ['(no message)'])[-1]
        raise ToolError(
            f'torchvision is installed ({osp.dirname(spec.origin)}) but '
            f'cannot be imported: {last}\nmmengine imports it at start-up, '
            f'so every run would crash. mobiledense does not use '
            f'torchvision: remove it with `{sys.executable} -m pip uninstall '
            f'-y torchvision` (or install the build that matches your '
            f'torch).')


def keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed memory for reuse.

    By default glibc hands blocks above 128 KB back to the kernel when they
    are freed, so every activation of every forward is backed by fresh pages
    whose first touch faults: on 2 CPU cores this made a SSDLite-EMO-2M
    training step 5% and backbone forwards up to 20% slower, and timings
    vary by as much between runs.  Allocations up to 32 MB (glibc's limit)
    are now served from the heap, which is trimmed only above 1 GB free.
    Other C libraries are left as they are.
    """
    if not sys.platform.startswith('linux'):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_trim_threshold, 1 << 30)
    mallopt(m_mmap_threshold, 32 << 20)


def preflight() -> None:
    """Checks and fixes every tool runs before touching a config."""
    check_torchvision()
    keep_freed_memory()
    import backbones.mm_fixes  # noqa: F401  (applies the stack fixes)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    from mmengine.config import DictAction
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default=None,
        help='override config entries, key=value (nested keys with dots); '
        'custom_imports given here are imported too')
    parser.add_argument(
        '--unsafe-load', action='store_true',
        help='load checkpoints with weights_only=False. Only for files you '
        'trust: unpickling them may run arbitrary code.')


def add_launcher_args(parser: argparse.ArgumentParser) -> None:
    """``--launcher`` for MMEngine's distributed launchers, and the rank
    argument that ``torch.distributed.launch`` passes."""
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


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
        raise ToolError(f'{path}, line {err.lineno}: {err.msg}') from err
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
        if any(key == 'custom_imports' or key.startswith('custom_imports.')
               for key in cfg_options):
            import_modules_from_strings(**cfg.custom_imports)
    return cfg


def apply_deploy(cfg, requested: bool = False) -> bool:
    """``deploy = True`` in the config (or ``requested``, e.g. ``--deploy``):
    test in deploy mode, switched after the checkpoint is loaded
    (:class:`backbones.deploy.SwitchToDeployHook`).  Returns whether it is
    on."""
    if not (requested or cfg.get('deploy', False)):
        return False
    cfg.deploy = True
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(h.get('type') == 'SwitchToDeployHook' for h in hooks):
        hooks.append(dict(type='SwitchToDeployHook'))
    cfg.custom_hooks = hooks
    return True


def check_score_thr(option: str, value: float) -> None:
    """A box-score threshold is a probability."""
    if not 0 <= value <= 1:
        raise ToolError(f'{option} must be in [0, 1], got {value}')


def enable_show_dir(cfg, show_dir: str, score_thr: float = 0.3) -> str:
    """Draw every test image's predictions into ``show_dir`` with the
    config's own mmdet/mmseg visualization hook (as their ``test.py
    --show-dir``): boxes with class and score above ``score_thr``, or class
    colours over the image.  Returns the absolute folder."""
    hook = (cfg.get('default_hooks') or {}).get('visualization')
    if hook is None:
        raise ToolError('--show-dir needs default_hooks.visualization in the '
                        'config (mmdet/mmseg default_runtime has it)')
    check_score_thr('--show-score-thr', score_thr)
    show_dir = osp.abspath(show_dir)
    hook['draw'] = True
    if cfg.get('default_scope') == 'mmdet':
        hook['test_out_dir'] = show_dir  # absolute: used as it is
        hook['score_thr'] = score_thr
    else:
        hook['interval'] = 1  # every image, not every 50th
        cfg.visualizer['save_dir'] = show_dir
    return show_dir


def apply_unsafe_load(enabled: bool) -> None:
    """``--unsafe-load``: our loader and mmengine's (which calls
    ``torch.load`` without ``weights_only``) may unpickle anything."""
    if enabled:
        from .checkpoint import UNSAFE_ENV
        os.environ[UNSAFE_ENV] = '1'
        os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'


def check_checkpoint(path: str) -> None:
    """Stop with a clear message before mmengine fails to unpickle a
    checkpoint deep inside the runner.

    Raises:
        ToolError: the file is missing, empty or damaged, or holds
            objects outside the allow-list while ``--unsafe-load`` was not
            given.
    """
    from .checkpoint import unsafe_load_allowed, untrusted_globals
    if not osp.isfile(path):
        raise ToolError(f'checkpoint not found: {path}')
    if osp.getsize(path) == 0:
        raise ToolError(f'checkpoint {path} is empty (0 bytes)')
    with open(path, 'rb') as handle:
        zipped = handle.read(2) == b'PK'  # torch's format since 1.6
    damage = checkpoint_damage(path) if zipped else None
    if damage:
        raise ToolError(f'checkpoint {path} is damaged ({damage}): it was '
                        f'cut short or corrupted')
    names = [] if unsafe_load_allowed() else untrusted_globals(path)
    if names:
        raise ToolError(
            f'{path} contains pickled objects outside the allow-list '
            f'({", ".join(names)}), so it was not loaded. If you trust the '
            f'file, add --unsafe-load to load it with weights_only=False.')


def checkpoint_damage(path: str) -> Optional[str]:
    """Why a checkpoint file cannot be read back (None if it can): torch
    writes zip archives, whose CRCs reveal a file cut short by a crash
    during the save or damaged later."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return str(err) or type(err).__name__
    return None if bad is None else f'{bad} fails its CRC check'


def latest_good_checkpoint(work_dir: str, report=print) -> Optional[str]:
    """The checkpoint ``--resume`` continues from: the one named in
    ``last_checkpoint``, else the latest ``epoch_N.pth`` / ``iter_N.pth``
    (``best_*`` files lack the optimizer state); a damaged one is reported
    and the previous one tried.  None when there is none."""
    import glob
    import re

    def number(path):
        match = re.fullmatch(r'(?:epoch|iter)_(\d+)\.pth', osp.basename(path))
        return int(match.group(1)) if match else None

    candidates = sorted((p for p in glob.glob(osp.join(work_dir, '*.pth'))
                         if number(p) is not None), key=number, reverse=True)
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as handle:
            named = handle.read().strip()
        if named in candidates:
            candidates.remove(named)
        candidates.insert(0, named)
    for path in candidates:
        if not osp.isfile(path):
            report(f'warning: {pointer} names {path}, which does not exist')
            continue
        damage = checkpoint_damage(path)
        if damage is None:
            return path
        report(f'warning: checkpoint {path} is damaged ({damage}); trying '
               f'the previous one')
    return None


def replace_readme_block(name: str, text: str) -> None:
    """Put ``text`` between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``
    in the project's README.md (the tables our tools generate)."""
    import re
    start, end = f'<!-- {name}:start -->', f'<!-- {name}:end -->'
    readme = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                      'README.md')
    with open(readme) as handle:
        content = handle.read()
    if start not in content or end not in content:
        raise ToolError(f'README.md has no {start} ... {end} block')
    content = re.sub(f'{re.escape(start)}.*{re.escape(end)}',
                     lambda _: f'{start}\n{text}\n{end}', content, flags=re.S)
    with open(readme, 'w') as handle:
        handle.write(content)


def default_work_dir(config_path: str) -> str:
    return osp.join('work_dirs', osp.splitext(osp.basename(config_path))[0])


def load_run_config(args):
    """The config of a train/test run: ``load_config`` plus the launcher and
    work directory from the command line (``--work-dir``, else the config's
    ``work_dir``, else ``work_dirs/<config name>``)."""
    # torch.distributed.launch passes --local_rank; MMEngine reads the env.
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or \
        default_work_dir(args.config)
    return cfg


def build_runner(cfg, loaders: Sequence[str] = ('train_dataloader',
                                                'val_dataloader')):
    """Check the config's channels, classes and the data of ``loaders``,
    start a CPU process group if needed (:func:`setup_cpu_distributed`) and
    build its MMEngine runner."""
    from .data_checks import check_classes, check_data
    check_channels(cfg)
    check_classes(cfg, loaders)
    check_data(cfg, loaders)
    setup_cpu_distributed(cfg)
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else \
        RUNNERS.build(cfg)


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


def has_batchnorm(model) -> bool:
    """Whether training ``model`` normalises with batch statistics."""
    from torch.nn.modules.batchnorm import _BatchNorm
    return any(isinstance(m, _BatchNorm) for m in model.modules())


def build_backbone(spec: str, **overrides):
    """One of our backbones from ``TYPE:ARCH[:key=value,...]``, e.g.
    ``AsymmNet:small:widen_factor=0.5`` (values are Python literals).

    Raises:
        ToolError: an unknown type, or arguments the backbone refuses.
    """
    import ast

    from mmengine.registry import MODELS

    import backbones  # noqa: F401  (registers the types)

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


def synthetic_batch(model, scope: str, size=(320, 320), batch: int = 2,
                    seed: int = 0) -> dict:
    """Random images and targets shaped like a det or seg training batch.

    Used to run a config's model without a dataset (config tests, speed
    benchmarks): three random boxes per image for detectors, a random label
    map for segmentors.
    """
    import torch
    from mmengine.structures import InstanceData, PixelData
    gen = torch.Generator().manual_seed(seed)
    if scope == 'mmdet':  # one-stage heads, or a two-stage RoI head's
        head = getattr(model, 'bbox_head', None) or model.roi_head.bbox_head
        num_classes = head.num_classes
    else:
        num_classes = model.decode_head.num_classes
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, *size), generator=gen,
                                    dtype=torch.uint8))
        meta = dict(img_shape=size, ori_shape=size, pad_shape=size,
                    scale_factor=(1.0, 1.0))
        if scope == 'mmdet':
            from mmdet.structures import DetDataSample
            sample = DetDataSample(metainfo=meta)
            xy = torch.rand(3, 2, generator=gen) * torch.tensor(
                size[::-1]) * 0.6
            wh = torch.rand(3, 2, generator=gen) * 80 + 40
            sample.gt_instances = InstanceData(
                bboxes=torch.cat([xy, xy + wh], 1),
                labels=torch.randint(0, num_classes, (3, ), generator=gen))
        else:
            from mmseg.structures import SegDataSample
            sample = SegDataSample(metainfo=meta)
            sample.gt_sem_seg = PixelData(data=torch.randint(
                0, num_classes, (1, *size), generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def summarize_metrics(metrics: dict) -> str:
    """One human line for the headline metrics of a det or seg run."""
    names = {'coco/bbox_mAP': 'COCO bbox mAP', 'coco/bbox_mAP_50': 'mAP@50',
             'coco/bbox_mAP_75': 'mAP@75', 'mIoU': 'mIoU', 'aAcc': 'aAcc',
             'mAcc': 'mAcc'}
    parts = [f'{label} {metrics[key]:.4g}' for key, label in names.items()
             if key in metrics]
    return ', '.join(parts) if parts else str(metrics)


def user_errors() -> tuple:
    """Exceptions that describe a problem with the user's input (a file, a
    config, an argument) well enough to be printed instead of a traceback,
    wherever they are raised (also deep inside an MMEngine runner)."""
    from .checkpoint import CheckpointLayoutError, UntrustedCheckpointError
    from .common import InputError
    from .data_checks import DataError
    from .mxnet_params import MXNetParamsError
    return (ToolError, CheckpointLayoutError, UntrustedCheckpointError,
            MXNetParamsError, DataError, InputError)


def run_tool(main, argv: Optional[Sequence[str]] = None):
    """Run a tool's ``main``; a user error ends it with its message and exit
    status 2, without a traceback."""
    try:
        return main(argv)
    except user_errors() as err:
        print(f'error: {err}', file=sys.stderr)
        raise SystemExit(2)
