import gc

import pytest

import depwatch


@pytest.fixture
def registry():
    r = depwatch.Registry()
    yield r
    r.flush()
    gc.collect()
