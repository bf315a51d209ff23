"""CPU numerics for training and prediction: flushing denormals, detecting native
bf16, int8 weights for prediction, and the storage forms of saved weights.

Gradients of a network trained at a high learning rate reach the denormal range
(below ~1e-38), where x86 CPUs compute many times slower.  Flushing them to zero
is a per-thread CPU mode, and ``torch.set_flush_denormal`` sets it on the calling
thread only, so torch's OpenMP worker threads (half the work with 2 threads)
would keep computing with denormals.  :func:`set_flush_denormal` sets it on them
too, by running the C library's ``fesetenv`` on each thread of the calling
thread's OpenMP team; where that is not possible (no OpenMP runtime found, not
Linux) only the calling thread flushes.  :func:`flush_denormals` does it for the
length of a block (a fit, a prediction), per thread.
"""

import contextlib
import copy
import ctypes
import ctypes.util
import functools
import os
import re
import threading
import warnings

import torch
from torch import nn

_OPENMP_LIB = re.compile(r"/lib(gomp|iomp5|omp)[-.][^/]*$")


@functools.lru_cache(maxsize=1)
def _fenv():
    """The C library's ``fegetenv`` and ``fesetenv`` (C99), or None."""
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m"))
        return libm.fegetenv, libm.fesetenv
    except (OSError, AttributeError, TypeError):
        return None


@functools.lru_cache(maxsize=1)
def _openmp_parallel():
    """``GOMP_parallel`` of torch's OpenMP runtime (the one its intra-op threads
    run on; LLVM's and Intel's runtimes have it too), or None.

    Other packages may load their own OpenMP copy (scikit-learn's wheels bundle
    one), so the copy in torch's folder wins; otherwise only a single runtime in
    the process.  Looked up once per process (torch loads its runtime on import).
    """
    if not torch.backends.openmp.is_available():
        return None
    try:
        with open("/proc/self/maps") as maps:  # Linux; elsewhere only the calling thread flushes
            paths = sorted({line.split()[-1] for line in maps if _OPENMP_LIB.search(line)})
    except OSError:
        return None
    torch_dir = os.path.dirname(torch.__file__) + os.sep
    own = [p for p in paths if p.startswith(torch_dir)]
    for path in own or (paths if len(paths) == 1 else []):
        try:
            parallel = ctypes.CDLL(path).GOMP_parallel
        except (OSError, AttributeError):
            continue
        parallel.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
        parallel.restype = None
        return parallel
    return None


def _fp_env():
    """The calling thread's floating-point environment (a buffer), or None."""
    fenv = _fenv()
    env = ctypes.create_string_buffer(512)  # larger than any platform's fenv_t
    return env if fenv is not None and fenv[0](env) == 0 else None


def _share_fp_mode_with_intraop_threads():
    """Copy the calling thread's floating-point environment (rounding, exception
    masks, flush-to-zero) to every thread of its OpenMP team (the team that
    torch's operations started from this thread run on), by running ``fesetenv``
    on each.  Returns False where that is not possible."""
    parallel, env = _openmp_parallel(), _fp_env()
    if parallel is None or env is None:
        return False
    fesetenv = ctypes.cast(_fenv()[1], ctypes.c_void_p)
    parallel(fesetenv, ctypes.cast(env, ctypes.c_void_p), torch.get_num_threads(), 0)
    return True


def set_flush_denormal(mode):
    """``torch.set_flush_denormal`` on the calling thread and on its OpenMP team.
    Returns whether the CPU supports it."""
    supported = torch.set_flush_denormal(mode)
    if supported:
        _share_fp_mode_with_intraop_threads()
    return supported


_thread = threading.local()  # depth of the calling thread's flush_denormals blocks


@contextlib.contextmanager
def flush_denormals():
    """Treat denormal floats as zero on the CPU while the block runs.

    One classifier epoch on 1,000 IMDb reviews with every layer at lr 2e-2 took 76 s
    with denormals, 62 s with the calling thread flushing them and 51 s with every
    thread (``benchmarks/denormals.py``, 2 threads).  Values that small make no
    difference to the results.

    Per thread and reentrant: a thread's outermost block turns flushing on for the
    thread and its OpenMP team, and on exit gives both the floating-point
    environment the thread had before (so a program that flushes already keeps
    flushing); nested blocks change nothing, and blocks in other threads (each
    with its own team) do not disturb each other.  Yields whether the CPU
    supports flushing.
    """
    depth = getattr(_thread, "depth", 0)
    if depth:
        _thread.depth = depth + 1
        try:
            yield _thread.supported
        finally:
            _thread.depth = depth
        return
    before = _fp_env()
    supported = set_flush_denormal(True)
    _thread.depth, _thread.supported = 1, supported
    try:
        yield supported
    finally:
        _thread.depth = 0
        if supported and before is not None:
            _fenv()[1](before)
            _share_fp_mode_with_intraop_threads()
        elif supported:  # no fegetenv: torch's default
            set_flush_denormal(False)


@functools.lru_cache(maxsize=None)
def native_bf16(device_type="cpu"):
    """Whether a ``device_type`` ("cpu" or "cuda") device computes bf16 natively, so
    that bf16 autocast speeds it up: a CUDA GPU that supports bf16, or an x86 CPU
    with AVX-512 BF16 or AMX (elsewhere, e.g. AVX2 only, bf16 autocast is slower)."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


#: The layer types that :func:`int8_copy` runs with int8 weights.
INT8_LAYERS = (nn.LSTM, nn.Linear)


def int8_copy(module):
    """A copy of ``module`` for CPU prediction whose LSTM and linear layers compute
    with int8 weights (dynamic quantization: weights quantized once per output
    channel, activations per batch; embeddings, norms and pooling stay fp32).

    Eval mode; ``module`` itself is left as it is.  Uses torch's eager
    ``quantize_dynamic``, which torch has deprecated (in favour of torchao, which
    has no quantized LSTM) but still ships; a torch without it raises a
    RuntimeError that says so.
    """
    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as exc:  # pragma: no cover - depends on the torch version
        raise RuntimeError("quantize=True needs torch.ao.quantization.quantize_dynamic, which "
                           f"this torch ({torch.__version__}) does not have") from exc
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        spec = dict.fromkeys(INT8_LAYERS, per_channel_dynamic_qconfig)
        return quantize_dynamic(copy.deepcopy(module).eval(), spec, dtype=torch.qint8)


#: How a saved network's tensors can be stored (see :func:`stored_weights`).
STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "int8": torch.int8}
#: Suffix of the per-row scale of a matrix stored in int8.
SCALE_SUFFIX = ".int8_scale"


def _stored_layout(name, dtype, shape, weights):
    """[(name, dtype, shape)] that the tensor ``name`` is stored as under ``weights``."""
    if not dtype.is_floating_point or weights == "float32":
        return [(name, dtype, tuple(shape))]
    if weights == "int8" and len(shape) == 2:
        return [(name, torch.int8, tuple(shape)), (name + SCALE_SUFFIX, torch.float16, (shape[0],))]
    return [(name, torch.float16, tuple(shape))]


def stored_weights(state, weights, shapes_only=False):
    """A state dict in its storage form ``weights`` (a key of :data:`STORAGE_DTYPES`).

    ``"int8"``: every floating-point matrix as int8 with one fp16 scale per row
    (symmetric, ``row = int8 * scale``, the largest entry of a row maps to 127),
    the other floating-point tensors in fp16: about a quarter of fp32.
    ``"float16"``: every floating-point tensor in fp16.  ``"float32"``: as it is.
    Integer tensors are kept.  :func:`unstored_weights` undoes it.  With
    ``shapes_only``, ``state`` maps names to ``(dtype, shape)`` and so does the
    result: the layout a file of this form must have.
    """
    out = {}
    for name, t in state.items():
        dtype, shape = t if shapes_only else (t.dtype, tuple(t.shape))
        for key, kind, size in _stored_layout(name, dtype, shape, weights):
            if shapes_only:
                out[key] = (kind, size)
            elif key.endswith(SCALE_SUFFIX):
                out[key] = t.float().abs().amax(dim=1).clamp_min(1e-12).div(127).half()
            elif kind == torch.int8 and dtype != torch.int8:
                scale = t.float().abs().amax(dim=1).clamp_min(1e-12).div(127)
                out[key] = torch.round(t.float() / scale[:, None]).clamp(-127, 127).to(torch.int8)
            else:
                out[key] = t.to(kind)
    return out


def unstored_weights(state):
    """fp32 weights from :func:`stored_weights`' storage; integer tensors kept."""
    out = {}
    for name, t in state.items():
        if name.endswith(SCALE_SUFFIX):
            continue
        if name + SCALE_SUFFIX in state:
            t = t.float() * state[name + SCALE_SUFFIX].float()[:, None]
        out[name] = t.float() if t.dtype.is_floating_point else t
    return out
