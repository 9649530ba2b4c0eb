"""Shared fixtures.  The package is installed (editable) by the set-up;
pytest puts this folder on the path for ``helpers`` and ``standin``."""
import warnings

import pytest

warnings.filterwarnings('ignore', message='pkg_resources is deprecated')


MARKERS = {
    'slow': 'long runs (minutes); deselected by default, run with -m slow',
    'train': 'runs a training or a runner over a dataset (train.py, '
             'test.py, browse_dataset.py, a launcher)',
    'export': 'exports or deploys a model, or runs an artefact',
    'fast': 'everything that neither trains nor exports (set here): '
            'pytest -m fast is the inner loop',
}


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line('markers', f'{name}: {text}')


# tools/run_tests.sh gives each file to one of its workers, in collection
# order: the longest files go first, so that the workers end together
LONGEST_FIRST = ('test_end_to_end.py', 'test_runtime.py')


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: LONGEST_FIRST.index(item.path.name)
               if item.path.name in LONGEST_FIRST else len(LONGEST_FIRST))
    for item in items:
        if not any(item.get_closest_marker(name)
                   for name in ('slow', 'train', 'export')):
            item.add_marker(pytest.mark.fast)


@pytest.fixture(scope='session')
def toy_workspace(tmp_path_factory):
    """A directory with ``data/toy_coco`` and ``data/toy_ade20k`` (the
    relative paths the toy configs use), generated once per session."""
    root = tmp_path_factory.mktemp('toy_workspace')
    from backbones.data.toy import make
    make('coco', root / 'data' / 'toy_coco', 400, 100, seed=0)
    make('ade20k', root / 'data' / 'toy_ade20k', 300, 60, seed=0)
    return root
