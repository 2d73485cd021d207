"""Suite-wide collection rules: the suite runs on two pytest-xdist workers (``addopts`` in pyproject.toml).

Tests that share state run on one worker, as a group (``--dist loadgroup``): the study tests share one session store
of quick verdicts (tests/studies/conftest.py), and the Ray and process-lifecycle tests start and kill clusters
and process trees that must not overlap another such test. (pytest-xdist 3.8 writes the group into a node id that
pytest 9 no longer reads, so the groups only hold with pytest 8: pyproject.toml pins it.)

Each worker trains on one torch thread, and so does every ``gaplab`` it starts (``GAPLAB_THREADS``): two workers
on two cores already fill the machine, and a second thread per worker (the CLI's default, and the trigger for packs
side by side) would put four busy threads on two cores. Tests of thread behaviour set their own counts.
"""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("GAPLAB_THREADS", "1")
torch.set_num_threads(1)

GROUPS = {"studies": ("tests/studies/",),
          "processes": ("tests/core/test_ray_cluster.py", "tests/core/test_worker_lifecycle.py")}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks into node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        for group, prefixes in GROUPS.items():
            if path.startswith(prefixes):
                item.add_marker(pytest.mark.xdist_group(group))
