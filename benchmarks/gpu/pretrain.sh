#!/usr/bin/env bash
# The GPU pretraining kit's one command (see docs/gpu_pretraining.md):
#
#   bash benchmarks/gpu/pretrain.sh --out DIR [--wheels DIR] [options of train.py]
#
# on a machine with python3 and torch but maybe without the package's other
# dependencies, and no network: installs the wheels of --wheels (default .whl,
# from prepare.py) into a folder on PYTHONPATH, puts the package itself (this
# repository) on PYTHONPATH, and runs benchmarks/gpu/train.py: the corpus of
# --data (default .gpu-kit), a wall-clock budget (--budget-minutes, default 8),
# the encoder written to --out every --checkpoint-minutes (default 2) and at the end.
# `python3 benchmarks/gpu/train.py --help` lists the options.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-python3}
wheels=$root/.whl
args=()
while (($#)); do
  case $1 in
    --wheels) wheels=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
if compgen -G "$wheels/*.whl" >/dev/null; then
  site=${ULMFIT_SITE:-/tmp/ulmfit-site}
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" "$wheels"/*.whl
  export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
  echo "installed $(ls "$wheels"/*.whl | wc -l) wheels from $wheels into $site"
fi
export PYTHONPATH=$root${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
"$python" - <<'PY'
import importlib.util, sys
missing = [m for m in ("numpy", "torch", "sklearn", "skorch", "safetensors", "tqdm", "joblib")
           if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing Python packages: {missing}; carry their wheels (benchmarks/gpu/prepare.py "
             "--binary-wheels for compiled ones)")
PY
exec "$python" "$here/train.py" "${args[@]}"
