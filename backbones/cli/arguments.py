"""Command-line options several tools share."""
import argparse

from .errors import ToolError


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a whole number')
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be at least 1, got {value}')
    return value


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


def check_score_thr(option: str, value: float) -> None:
    """A box-score threshold is a probability."""
    if not 0 <= value <= 1:
        raise ToolError(f'{option} must be in [0, 1], got {value}')
