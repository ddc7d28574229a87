#!/usr/bin/env bash
# The prepared call for a lent GPU (issue 16): the wide fast-family widths, trained on the GPU with
# the shipped recipe, each for at most MAXMIN minutes, checkpoints and logs under $OUT (they come back).
#
# Before the call, here (once per machine; both folders are git-ignored and travel with `carry`):
#   python -m edge_lmk.data.pack --data ../shared/data/300w/train --out gpu_pack/300w_train
#   python -m edge_lmk.data.pack --data ../shared/data/extra_udacity/train --out gpu_pack/extra_udacity_train
#   python -m edge_lmk.data.pack --data ../shared/data/extra_udacity/val --out gpu_pack/extra_udacity_val
#   python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl pydantic==2.11.10 pydantic_core==2.33.2 annotated-types==0.8.0 typing-inspection==0.4.2
# The device call (about 31 MB of faces + 32 MB of working tree, inside the 64 MiB a call carries):
#   run(command="bash training/gpu.sh", carry=["gpu_pack", ".whl"], timeout_s=600)
# Afterwards: copy $OUT/<run> to runs/<run>; each run resumes with the command in $OUT/<run>.cmd
# (on the GPU again, or on CPU with --device cpu), then `python -m edge_lmk.ship --run runs/<run>`.
#
# Tested on CPU with: OUT=/tmp/gpu PY=.venv/bin/python DEVICE=cpu STEPS=20 MAXMIN=1 bash training/gpu.sh
set -uo pipefail
: "${OUT:?set OUT (the device machine sets it)}"
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-30000}
MAXMIN=${MAXMIN:-4}
JOBS=${JOBS:-"fast:1/2:fast_w1_2 fast:1:fast_w1"}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"

# The GPU image has torch, numpy, OpenCV and tqdm but not pydantic (the preprocessing contract's schema).
if ! "$PY" -c "import pydantic" 2>/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} || { echo "no pydantic wheels in .whl/"; exit 1; }
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"

RECIPE="--loss laplacekl --beta 10 --data gpu_pack/300w_train --val-data gpu_pack/extra_udacity_val \
--extra-data gpu_pack/extra_udacity_train --extra-weight 0.5 --batch-size 32 --seed 0 --no-cache"
status=0
for job in $JOBS; do
    IFS=: read -r family width name <<<"$job"
    cmd="python -m edge_lmk.train --family $family --width $width $RECIPE --steps $STEPS --out runs/$name"
    echo "$cmd" > "$OUT/$name.cmd"
    echo "=== $name: $cmd --device $DEVICE --max-minutes $MAXMIN"
    # --max-minutes stops the loop at an epoch end and saves last.pt, so the run resumes where it stopped.
    "$PY" -m edge_lmk.train --family "$family" --width "$width" $RECIPE --steps "$STEPS" --device "$DEVICE" \
        --max-minutes "$MAXMIN" --out "$OUT/$name" > "$OUT/$name.log" 2>&1 || status=1
    tail -n 3 "$OUT/$name.log"
done
exit $status
