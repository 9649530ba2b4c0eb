"""What-if models for the measurements of docs/speed.md, not models to
use: a config's network with its SiLU (or every smooth activation)
replaced by ReLU, which every runtime fuses into the convolution before
it.  Timed beside the real network, the difference is what the
activations cost.

    python tools/benchmark.py configs/ssdlite_emo_1m_coco.py \\
        python:activation_probes:relu_for_silu:configs/ssdlite_emo_1m_coco.py \\
        --python-path docs/probes --sizes 320 --modes litert-network ...
"""
import torch.nn as nn

from backbones.benchmark.entries import Settings, build_spec
from backbones.models.folding import replace_children
from backbones.models.layers import ErfGELU


def with_relu_for(config: str, kinds: tuple) -> nn.Module:
    """The network of ``config`` (as the benchmark builds it) with every
    module of a type in ``kinds`` replaced by ``nn.ReLU``."""
    _, network, _ = build_spec(config, Settings([config]))
    if not replace_children(network, lambda child: nn.ReLU()
                            if isinstance(child, kinds) else None):
        raise ValueError(f'{config}: no {kinds} to replace')
    return network


def relu_for_silu(config: str) -> nn.Module:
    return with_relu_for(config, (nn.SiLU, ))


def relu_for_every_activation(config: str) -> nn.Module:
    return with_relu_for(config, (nn.SiLU, nn.GELU, ErfGELU))
