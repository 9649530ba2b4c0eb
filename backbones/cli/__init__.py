"""What the scripts in ``tools/`` share, one module per topic; the library
below (configs, checkpoints, models, export, runtime) never imports it:

* :mod:`.errors`: ``run_tool`` (a library error is one line, exit 2) and
  ``ToolError`` for the tools' own option checks;
* :mod:`.environment`: start-up checks (``preflight``), ``--unsafe-load``;
* :mod:`.arguments`: options several tools take;
* :mod:`.config`: the run config from the command line, work dirs;
* :mod:`.checkpoints`: the checkpoint ``--resume`` takes;
* :mod:`.readme`: the README and docs blocks tools generate;
* :mod:`.workdir`: one training per work dir.

Tools write ``from backbones import cli`` and call ``cli.NAME``; the
library functions they use most are re-exported here.
"""
from ..checkpoint import (check_checkpoint, check_fine_tune_source,
                          load_model_checkpoint)
from ..config import (build_backbone, build_model, build_model_with_weights,
                      check_channels, load_config)
from ..engine.runner import build_runner
from .arguments import (ArgumentParser, add_common_args, add_data_args,
                        add_launcher_args, check_score_thr, non_negative_int,
                        positive_float, positive_int, torch_device)
from .checkpoints import latest_good_checkpoint
from .config import default_work_dir, load_run_config
from .environment import (apply_unsafe_load, check_torchvision,
                          keep_freed_memory, preflight)
from .errors import ToolError, run_tool
from .readme import replace_doc_block
from .workdir import work_dir_lock

__all__ = [
    'ArgumentParser', 'ToolError', 'add_common_args', 'add_data_args',
    'add_launcher_args', 'apply_unsafe_load', 'build_backbone',
    'build_model', 'build_model_with_weights', 'build_runner',
    'check_channels', 'check_checkpoint', 'check_fine_tune_source',
    'check_score_thr',
    'check_torchvision', 'default_work_dir', 'keep_freed_memory',
    'latest_good_checkpoint', 'load_config', 'load_model_checkpoint',
    'load_run_config', 'non_negative_int', 'positive_float', 'positive_int',
    'preflight', 'replace_doc_block', 'run_tool', 'torch_device',
    'work_dir_lock'
]
