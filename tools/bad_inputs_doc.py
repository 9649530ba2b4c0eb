"""Regenerate docs/bad_inputs.md's table from the tests that keep every
bad input answered in one line.

    python tools/bad_inputs_doc.py [--print]

Runs the one-line tests (``tests/test_bad_inputs.py``, the bad-argument
contract of ``tests/test_backbone_contract.py``) with a JUnit XML report
and writes each case's recorded answer into the block ``bad-inputs`` of
docs/bad_inputs.md; the table can therefore only list what a test checks.
"""
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree

from backbones import cli
from backbones.cli.readme import REPO_ROOT

# test function -> where the case is answered
SOURCES = {'test_tool_answers_in_one_line': 'tool',
           'test_bad_arguments_fail_in_one_line': 'backbone argument',
           'test_backbone_input_is_one_line': 'backbone input'}


def answers(report: str):
    """``(where, case, answer)`` of every passed case in a JUnit report."""
    rows = []
    for case in ElementTree.parse(report).iter('testcase'):
        function, _, case_id = case.get('name').partition('[')
        if function not in SOURCES or case.find('failure') is not None or \
                case.find('skipped') is not None:
            continue
        recorded = {p.get('name'): p.get('value')
                    for p in case.iter('property')}
        if 'answer' in recorded:
            rows.append((SOURCES[function], case_id.rstrip(']'),
                         recorded['answer']))
    return rows


def table(rows) -> str:
    def cell(text):
        return text.replace('|', '\\|')
    lines = ['| where | case | what it prints |', '|---|---|---|']
    lines += [f'| {where} | `{cell(case)}` | {cell(answer)} |'
              for where, case, answer in rows]
    return '\n'.join(lines)


def main(argv=None):
    parser = cli.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--print', action='store_true',
                        help='print the table instead of writing it')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        report = os.path.join(work, 'report.xml')
        subprocess.run(
            [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
             'tests/test_bad_inputs.py', 'tests/test_backbone_contract.py',
             '-k', ' or '.join(SOURCES), f'--junitxml={report}',
             '-o', 'junit_family=xunit1'],
            cwd=REPO_ROOT, check=False)
        rows = answers(report)
    if not rows:
        raise cli.ToolError('the tests recorded no answers')
    text = table(rows)
    if args.print:
        print(text)
        return text
    path = cli.replace_doc_block('docs/bad_inputs.md', 'bad-inputs', text)
    print(f'wrote {len(rows)} cases to {path}')
    return text


if __name__ == '__main__':
    cli.run_tool(main)
