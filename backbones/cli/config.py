"""The config of a train/test run from its command line: launcher checks
and the work directory."""
import os
import os.path as osp

from ..config import load_config
from .errors import ToolError


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
