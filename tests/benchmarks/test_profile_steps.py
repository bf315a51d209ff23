"""benchmarks/profile_steps.py: how a profile's events are split into phases and kinds."""

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def prof():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("bench_profile", ROOT / "benchmarks" / "profile_steps.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yield mod
    sys.path.remove(str(ROOT / "benchmarks"))


def ev(name, start, end, self_us=0.0):
    return SimpleNamespace(name=name, time_range=SimpleNamespace(start=start, end=end),
                           cpu_time_total=end - start, self_cpu_time_total=self_us)


def test_op_kinds(prof):
    assert prof.kind_of("aten::mkldnn_rnn_layer_backward") == "lstm_backward"
    assert prof.kind_of("aten::mkldnn_rnn_layer") == "lstm"
    assert prof.kind_of("aten::addmm") == "matmul" and prof.kind_of("aten::bernoulli_") == "dropout"
    assert prof.kind_of("aten::_log_softmax") == "softmax_loss"
    assert prof.kind_of("aten::sigmoid") == "elementwise" and prof.kind_of("aten::cat") == "copy_layout"
    assert prof.kind_of("aten::something_new") == "other"


def test_a_step_splits_at_its_backward_functions(prof):
    # two steps of 1,000 us: forward up to the first backward function, backward to the
    # last one's end, the update after; 500 us of the run lie outside any step
    events = [ev("Optimizer.step#AdamW.step", 0, 1000), ev("autograd::engine::evaluate_function: A", 300, 500),
              ev("autograd::engine::evaluate_function: B", 500, 900),
              ev("Optimizer.step#AdamW.step", 1500, 2500),
              ev("autograd::engine::evaluate_function: A", 1600, 2400),
              ev("aten::mkldnn_rnn_layer", 10, 200, 190), ev("aten::mkldnn_rnn_layer_backward", 310, 490, 180),
              ev("aten::bernoulli_", 5, 9, 30)]
    phases = prof.step_phases(events)
    assert phases == {"forward": 400e-6, "backward": 1400e-6, "update": 200e-6, "steps": 2}
    s = prof.summarize(events, 2500e-6, lstm_flops=3.7e6)
    assert s["phase_share"]["outside_steps"] == pytest.approx(0.2)
    assert s["kind_share"] == pytest.approx({"lstm": 0.475, "lstm_backward": 0.45, "dropout": 0.075})
    assert s["lstm_gflops_per_s"] == pytest.approx(3.7e6 / 370e-6 / 1e9)
    assert s["top_ops"][0] == {"op": "aten::mkldnn_rnn_layer", "share": pytest.approx(0.475)}
