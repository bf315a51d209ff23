import threading

import pytest
import torch

from ulmfit_sklearn.training.numerics import flush_denormals, native_bf16, set_flush_denormal

pytestmark = pytest.mark.skipif(not torch.set_flush_denormal(False),
                                reason="CPU cannot flush denormals")
# far above torch's grain size for elementwise ops (32768 elements): with 2 threads
# the product is split, and the worker thread computes about half of it
N = 1 << 20


def _survivors():
    """How many of N float32 denormals survive a product (made from bits: converting
    a float would flush them already)."""
    tiny = torch.full((N,), 1 << 20, dtype=torch.int32).view(torch.float32)
    return int(((tiny * 1.0) != 0).sum())


@pytest.fixture
def two_threads():
    """conftest.py runs the tests on one thread; this test is about the others."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.ones(N).sum()  # torch's thread pool exists, with 2 threads, before the test
        yield
    finally:
        torch.set_num_threads(before)


def test_flush_denormals_reaches_torchs_worker_threads_and_restores(two_threads):
    assert torch.get_num_threads() == 2
    assert _survivors() == N
    with flush_denormals() as supported:
        inside = _survivors()
    assert supported
    # only the calling thread flushing (torch.set_flush_denormal alone) leaves the
    # worker thread's half of the product: about N / 2 survivors
    assert inside == 0, f"{inside} of {N} denormals survived: a worker thread did not flush"
    assert _survivors() == N  # every thread computes with denormals again


def test_flush_denormals_gives_back_the_mode_the_thread_had(two_threads):
    try:
        set_flush_denormal(True)  # the program flushes already
        with flush_denormals():
            assert _survivors() == 0
        assert _survivors() == 0  # and still does: restored, not reset to torch's default
    finally:
        set_flush_denormal(False)


def test_nested_blocks_flush_until_the_outermost_ends(two_threads):
    with flush_denormals():
        with flush_denormals() as supported:
            assert supported and _survivors() == 0
        assert _survivors() == 0
    assert _survivors() == N


def test_blocks_in_two_threads_do_not_disturb_each_other(two_threads):
    """Thread A's block ends while thread B's runs: B (and its own OpenMP team)
    keeps flushing; the main thread, in no block, never flushed."""
    a_entered, a_left, seen = threading.Event(), threading.Event(), {}

    def a():
        with flush_denormals():
            a_entered.set()
        a_left.set()

    def b():
        a_entered.wait(10)
        with flush_denormals():
            a_left.wait(10)
            seen["b"] = _survivors()
        seen["b_after"] = _survivors()

    threads = [threading.Thread(target=f) for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert seen == {"b": 0, "b_after": N}
    assert _survivors() == N


def test_set_flush_denormal_follows_the_latest_call(two_threads):
    try:
        assert set_flush_denormal(True)
        assert _survivors() == 0
        set_flush_denormal(True)
        assert _survivors() == 0
    finally:
        set_flush_denormal(False)
    assert _survivors() == N


def test_native_bf16_follows_the_cpu_probes(monkeypatch):
    native_bf16.cache_clear()
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert native_bf16("cpu") is False
    native_bf16.cache_clear()
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert native_bf16("cpu") is True
    native_bf16.cache_clear()


def test_native_bf16_is_false_for_cuda_without_a_gpu(monkeypatch):
    native_bf16.cache_clear()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert native_bf16("cuda") is False
    native_bf16.cache_clear()
