#!/usr/bin/env bash
# Caffe's standard MNIST LeNet run, with Caffe's own unmodified example files (examples/mnist/lenet_solver.prototxt,
# lenet_train_test.prototxt: batch 64, 10000 iterations, test_iter 100), laid out as in Caffe's source tree.
# Usage: bench/train_lenet.sh [workdir] [extra tscaffe train flags, e.g. -iterations 1000]
# Prints the wall time and the final test accuracy; the full log goes to <workdir>/train.log.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-/tmp/tscaffe-lenet}"; shift || true
corpus="$here/bench/lenet" # Caffe's examples/mnist files, unmodified
mkdir -p "$work/examples/mnist"
cp "$corpus/lenet_solver.prototxt" "$corpus/lenet_train_test.prototxt" "$work/examples/mnist/"
node "$here/bin/tscaffe.js" data mnist "$work/examples/mnist" 2>/dev/null
cd "$work"
start=$(date +%s.%N)
# Debian's `time` (when installed) records the peak resident memory too.
timer=(); [ -x /usr/bin/time ] && timer=(/usr/bin/time -f "max RSS: %M KB" -o rss.txt)
"${timer[@]}" node "$here/bin/tscaffe.js" train -solver examples/mnist/lenet_solver.prototxt "$@" > train.log 2>&1
end=$(date +%s.%N)
echo "backend: ${TSCAFFE_BACKEND:-default}; wall: $(echo "$end - $start" | bc)"
grep "Test net output" train.log | tail -2
[ -f rss.txt ] && cat rss.txt || true
