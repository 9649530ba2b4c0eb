"""Run by the LiteRT converter's own interpreter (its environment:
:mod:`backbones.export.converter_env`), as a script, not as part of the
package: it imports torch and litert_torch only.

    python litert_convert.py PROGRAM.pt2 MODEL.tflite

``PROGRAM.pt2`` is a ``torch.export`` program saved by the project's
environment; its module is converted at the program's example inputs.
Exit status 3 and one line on stderr when the converter refuses it.
"""
import sys

import torch


def main(program_path: str, model_path: str) -> int:
    import litert_torch
    # functional ops only: the converter exports the module again, which
    # fails on the in-place detach_ of constants made in the graph
    program = torch.export.load(program_path).run_decompositions({})
    args, _ = program.example_inputs
    try:
        litert_torch.convert(program.module(), args).export(model_path)
    except Exception as err:  # the converter's refusal, whatever its type
        print(f'{type(err).__name__}: {" ".join(str(err).split())[:300]}',
              file=sys.stderr)
        return 3
    return 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:]))
