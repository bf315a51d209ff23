import pytest
import torch

from ulmfit_sklearn.training.numerics import flush_denormals, set_flush_denormal

pytestmark = pytest.mark.skipif(not torch.set_flush_denormal(False),
                                reason="CPU cannot flush denormals")
N = 1 << 20


def _survivors():
    """How many of N float32 denormals survive a product (made from bits: converting
    a float would flush them already)."""
    tiny = torch.full((N,), 1 << 20, dtype=torch.int32).view(torch.float32)
    return int(((tiny * 1.0) != 0).sum())


def test_flush_denormals_reaches_torchs_worker_threads_and_restores():
    torch.ones(N).sum()  # torch's thread pool exists before the block
    assert _survivors() == N
    with flush_denormals() as supported:
        inside = _survivors()
    assert supported
    assert inside == 0  # with 2+ threads, part of the product runs on worker threads
    assert _survivors() == N


def test_set_flush_denormal_follows_the_latest_call():
    try:
        assert set_flush_denormal(True)
        assert _survivors() == 0
        set_flush_denormal(True)
        assert _survivors() == 0
    finally:
        set_flush_denormal(False)
    assert _survivors() == N
