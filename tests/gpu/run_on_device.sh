#!/usr/bin/env bash
# Every CuPy path of tinydl on a real GPU, in under 8 minutes; the summary goes to OUT_DIR/summary.md.
#
#   bash tests/gpu/run_on_device.sh OUT_DIR            on the GPU machine (tinydl: pip install --no-deps -e .)
#   bash tests/gpu/run_on_device.sh OUT_DIR --cpu      the same checks on this machine, NumPy standing in
#   bash tests/gpu/run_on_device.sh OUT_DIR --cpu --quick   a few of each (tests/gpu/test_run_on_device.py)
#
# It runs: the GPU test files (tests/gpu, the attention and graph CUDA tests); the gradient-check registry
# with every op on CuPy arrays (float64) against the CPU; the array-code kernels against the numba ones;
# the layer contract on the device (forward, backward, .h5/.keras save, ONNX export of a device model);
# short fit runs of the digits MLP and CNN, the LSTM text classifier, GPT and the GCN against the CPU.
# Each part has its own time limit, so a hang in one still leaves a summary of the others.
set -uo pipefail
out=${1:?usage: run_on_device.sh OUT_DIR [--cpu] [--quick]}
shift
device=cuda quick=0
for flag in "$@"; do
    case $flag in
        --cpu) device=cpu ;;
        --quick) quick=1 ;;
        *) echo "run_on_device.sh: unknown flag $flag (expected --cpu or --quick)" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD TINYDL_TEST_DEVICE=$device PYTHONDONTWRITEBYTECODE=1
start=$SECONDS

# -- what ran where
{
    echo "device: $device; quick: $quick; $(date -u +%FT%TZ); tinydl at $(git rev-parse --short HEAD 2>/dev/null)"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    python - <<'EOF'
import importlib, platform
versions = [f"python {platform.python_version()}"]
for name in ("numpy", "numba", "cupy", "torch", "h5py", "onnx", "onnxruntime"):
    try:
        versions.append(f"{name} {importlib.import_module(name).__version__}")
    except Exception as error:
        versions.append(f"{name} missing ({type(error).__name__})")
print(", ".join(versions))
import tinydl.backend as b
print("cupy_available:", b.cupy_available())
EOF
} > "$out/environment.txt" 2>&1

# -- the tests: tests/gpu holds the device contract, the op registry on the device and the kernel twins
tests=(tests/gpu tests/ops/test_attention_cuda.py tests/graph/test_graph_cuda.py)
if [[ $device == cuda ]]; then
    workers=(-n 8)       # 16 cores and one GPU with room for eight CuPy processes
else
    workers=()           # this machine's CPUs are shared: one process
fi
select=()
if (( quick )); then
    select=(-k "Dense or (twin_on_the_device and layer_norm)")
fi
# (test_run_on_device.py runs this script: left out, or it would run itself)
timeout -s INT -k 20 240 python -m pytest -q -p no:cacheprovider "${workers[@]}" "${select[@]}" \
    --ignore=tests/gpu/test_run_on_device.py --junitxml="$out/pytest.xml" "${tests[@]}" > "$out/pytest.log" 2>&1
echo "tests: exit $? after $((SECONDS - start)) s" > "$out/seconds.txt"

# -- the examples: fit on the device vs the same run on the CPU
only=mlp,gcn,cnn,lstm,gpt  # cheapest first: a time limit cuts the dearest
examples=()
if (( quick )); then
    only=mlp,gcn examples=(--quick)
fi
echo "${only//,/ }" > "$out/examples.expected"
timeout -s INT -k 20 200 python -m tests.gpu.device_examples --device "$device" --out "$out/examples.json" \
    --only "$only" "${examples[@]}" > "$out/examples.log" 2>&1
echo "examples: exit $? after $((SECONDS - start)) s" >> "$out/seconds.txt"

python -m tests.gpu.device_summary "$out"
