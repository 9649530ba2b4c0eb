"""Checkpoint loading: ``weights_only`` loads with an allow-list, the
official release layouts (through each family's ``convert_official``),
exact matching, and the numpy reader of MXNet ``.params`` files."""
from .loading import (UNSAFE_ENV, CheckpointLayoutError,
                      UntrustedCheckpointError, check_finite,
                      check_model_checkpoint, extract_state_dict,
                      load_backbone_checkpoint, load_file, match_layout,
                      non_finite_tensors, trust_checkpoint_types,
                      unsafe_load_allowed, untrusted_globals)
from .mxnet_params import MXNetParamsError, is_mxnet_params, read_mxnet_params

__all__ = ['UNSAFE_ENV', 'CheckpointLayoutError', 'MXNetParamsError',
           'UntrustedCheckpointError', 'check_finite',
           'check_model_checkpoint', 'non_finite_tensors',
           'extract_state_dict', 'is_mxnet_params', 'load_backbone_checkpoint',
           'load_file', 'match_layout', 'read_mxnet_params',
           'trust_checkpoint_types', 'unsafe_load_allowed',
           'untrusted_globals']
