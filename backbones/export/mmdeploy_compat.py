"""mmdeploy 1.3.1 as a client of this stack, for users who already deploy
with it (``configs/deploy/`` holds deploy configs in its format).

What it needs, found by running its ``torch2onnx`` and ``inference_model``
on our detectors and segmentors with torch 2.13:

* installed with ``--no-deps`` (it pins protobuf <= 3.20.2, which today's
  onnx refuses), plus ``aenum``, ``multiprocess`` and ``dill``
  (``requirements/lock.txt``);
* ``torch.onnx.export`` with ``dynamo=False``: torch 2.13 defaults to the
  dynamo exporter, which needs onnxscript and ignores mmdeploy's
  rewriters.  :func:`apply` makes that the default for every caller that
  does not choose (ours always pass it explicitly).
"""
import functools


def apply() -> None:
    """Make ``torch.onnx.export`` default to the TorchScript exporter."""
    import torch.onnx
    export = torch.onnx.export
    if getattr(export, 'defaults_to_torchscript', False):
        return

    @functools.wraps(export)
    def torchscript_export(*args, **kwargs):
        kwargs.setdefault('dynamo', False)
        return export(*args, **kwargs)

    torchscript_export.defaults_to_torchscript = True
    torch.onnx.export = torchscript_export
