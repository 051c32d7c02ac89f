#!/usr/bin/env bash
# The GPU issue's benchmarks in under 8 minutes (time limits 90 + 250 + 100 s, 10 s grace each); everything
# lands in OUT_DIR, the summary in OUT_DIR/summary.md.
#
#   bash benchmarks/run_gpu_benchmarks.sh OUT_DIR                 on the GPU machine
#   bash benchmarks/run_gpu_benchmarks.sh OUT_DIR --dry-run       every Python part on this CPU, tiny sizes
#   bash benchmarks/run_gpu_benchmarks.sh OUT_DIR [--dry-run] --only mlp,lstm --rounds 3   (flags of benchmarks/gpu.py)
#
# Parts, each with its own time limit so a hang still leaves the others' results:
#   1. the fused CuPy kernels against their array code on the device (fused_tests.log)
#   2. benchmarks/gpu.py: the table (table.md, results.json, benchmarks.log) and a profile of the row
#      furthest from its aim (profile_<row>.txt: cupyx.profiler CPU vs GPU time per step, host functions)
#   3. the CNN, LSTM and transformer rows again with TINYDL_FUSED=0 (the array-code kernels), in array_code/
set -uo pipefail
out=${1:?usage: run_gpu_benchmarks.sh OUT_DIR [--dry-run] [benchmarks.gpu flags]}
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD PYTHONDONTWRITEBYTECODE=1
start=$SECONDS

{
    echo "# GPU benchmarks, $(date -u +%FT%TZ), tinydl at $(git rev-parse --short HEAD 2>/dev/null)"
    echo "flags: $*"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
} > "$out/summary.md"

# (the CPU-side checks of the same kernels run in the suite; on a CPU these skip)
timeout -s INT -k 10 90 python -m pytest -q -p no:cacheprovider -rs tests/gpu/test_fused_kernels.py -k cupy \
    > "$out/fused_tests.log" 2>&1
echo "- fused kernel tests: exit $? after $((SECONDS - start)) s ($(tail -n 1 "$out/fused_tests.log"))" >> "$out/summary.md"

timeout -s INT -k 10 250 python -m benchmarks.gpu --out "$out" "$@" > "$out/benchmarks.log" 2>&1
status=$?
echo "- benchmarks: exit $status after $((SECONDS - start)) s" >> "$out/summary.md"
if [[ -f $out/table.md ]]; then
    { echo; cat "$out/table.md"; } >> "$out/summary.md"
else
    { echo; echo "no table: the end of benchmarks.log"; tail -n 20 "$out/benchmarks.log"; } >> "$out/summary.md"
fi

# 3. the rows whose kernels were fused, again with the array-code kernels (TINYDL_FUSED=0): what fusion gained
mkdir -p "$out/array_code"
compare=(--only cnn,lstm,transformer)
[[ " $* " == *" --dry-run "* ]] && compare=(--only lstm --dry-run)  # the CPU check of this part: one cheap row
TINYDL_FUSED=0 timeout -s INT -k 10 100 python -m benchmarks.gpu --out "$out/array_code" "${compare[@]}" \
    --rounds 3 --no-profile > "$out/array_code/benchmarks.log" 2>&1
echo "- array-code kernels (TINYDL_FUSED=0): exit $? after $((SECONDS - start)) s" >> "$out/summary.md"
[[ -f $out/array_code/table.md ]] && { echo; echo "with the array-code kernels:"; cat "$out/array_code/table.md"; } \
    >> "$out/summary.md"
cat "$out/summary.md"
exit $status
