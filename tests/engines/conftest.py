import pytest
import torch

from tests.helpers import tiny_dataset


@pytest.fixture(autouse=True)
def _small_torch():
    torch.set_num_threads(1)
    yield


@pytest.fixture
def tiny():
    return tiny_dataset()
