"""Timing models side by side (``tools/benchmark.py`` is its command line):
what is timed (``entries``: configs, backbones, other implementations,
PyTorch or ONNX networks, deployed artefacts from image to predictions),
how (``timing``: interleaved rounds, the table, the runtimes' profiles), and training steps split
into their parts (``training``).  Speed is printed, never asserted."""
from .entries import (ARTEFACT_MODES, NETWORK_MODES, Settings,
                      end_to_end_entries, network_entries)
from .timing import benchmark, markdown, profile_markdown
from .training import train_split

__all__ = ['ARTEFACT_MODES', 'NETWORK_MODES', 'Settings', 'benchmark',
           'end_to_end_entries', 'markdown', 'network_entries',
           'profile_markdown', 'train_split']
