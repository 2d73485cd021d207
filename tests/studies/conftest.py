"""Study tests run with one torch thread, as a busy 2-core box needs (OpenMP spinning: see PERF-NOTES)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
