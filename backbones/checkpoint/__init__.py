"""Checkpoints: one safe read of a file (``reading``: the allow-list, the
checks, mmengine's local loader), loading into a model or backbone exactly
(``loading``: official release layouts through each family's
``convert_official``), and the numpy reader of MXNet ``.params`` files."""
from ..errors import (CheckpointError, CheckpointLayoutError,
                      CheckpointNotFoundError,
                      MXNetParamsError, NonFiniteWeightsError,
                      NotACheckpointError, UntrustedCheckpointError)
from .loading import (check_checkpoint, check_finite, check_fine_tune_source,
                      checkpoint_state_dict,
                      extract_state_dict, load_backbone_checkpoint,
                      load_model_checkpoint, match_layout, non_finite_tensors)
from .mxnet_params import is_mxnet_params, read_mxnet_params
from .reading import (UNSAFE_ENV, checkpoint_damage,
                      install_as_mmengine_loader, load_file, read_checkpoint,
                      trust_checkpoint_types, unsafe_load_allowed,
                      untrusted_globals)

__all__ = ['UNSAFE_ENV', 'CheckpointError', 'CheckpointLayoutError',
           'CheckpointNotFoundError',
           'MXNetParamsError', 'NonFiniteWeightsError', 'NotACheckpointError',
           'UntrustedCheckpointError', 'check_checkpoint', 'check_finite',
           'check_fine_tune_source',
           'checkpoint_damage', 'checkpoint_state_dict',
           'extract_state_dict', 'install_as_mmengine_loader',
           'is_mxnet_params', 'load_backbone_checkpoint', 'load_file',
           'load_model_checkpoint', 'match_layout', 'non_finite_tensors',
           'read_checkpoint', 'read_mxnet_params', 'trust_checkpoint_types',
           'unsafe_load_allowed', 'untrusted_globals']
