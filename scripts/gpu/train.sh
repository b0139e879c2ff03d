#!/usr/bin/env bash
# On the GPU machine, right after scripts/gpu/setup.sh, carrying .gpu2: trains accurate-gpu, mienet-m with
# accurate's recipe (models/accurate.md), for EPOCHS_M epochs and stops it after BUDGET seconds. Every 30 s, and at the
# end, its best.onnx goes to $OUT in 15 MB parts (`cat accurate-gpu.onnx.part* > best.onnx` puts it together) with
# logs.tgz (log, history.json, config.json), so a call stopped at its limit still brings back the best model so far.
#   bash scripts/gpu/train.sh BUDGET EPOCHS_M
set -uo pipefail
budget=${1:?BUDGET seconds}
epochs_m=${2:?EPOCHS_M}
[ -f .gpurt/mien/build/Release/mien_torch.node ] || { echo "no .gpurt: the machine went back after setup.sh; run it again" >&2; exit 3; }
[ -d .gpu2 ] || { echo "carry .gpu2 (bash scripts/gpu/pack.sh)" >&2; exit 2; }
tar -C .gpurt/data -xJf .gpu2/train.tar.xz
export PATH=$PWD/.gpurt/bin:$PATH
runs=.gpurt/runs && mkdir -p "$runs"
# An array, not a function: a background function is a subshell, and killing it would leave its node running.
mien=(node .gpurt/mien/dist/mien.mjs)
device=${MIEN_DEVICE:-cuda} # cpu: to try the script without a GPU

"${mien[@]}" train --data .gpurt/data --arch mienet-m --lr 1e-3 --label-smoothing 0.1 --augment camera --ema 0.999 \
  --schedule cosine --warmup-epochs 1 --epochs "$epochs_m" --early-stop 0 --device "$device" --out "$runs/accurate-gpu" \
  >"$runs/accurate-gpu.log" 2>&1 &

publish() {
  best=$runs/accurate-gpu/best.onnx
  [ -f "$best" ] && [ "$best" -nt "$OUT/accurate-gpu.onnx.part00" -o ! -f "$OUT/accurate-gpu.onnx.part00" ] &&
    rm -f "$OUT/accurate-gpu.onnx.part"* && split -b 15M -d "$best" "$OUT/accurate-gpu.onnx.part"
  (cd "$runs" && tar -czf "$OUT/logs.tgz" ./*.log ./*/history.json ./*/config.json 2>/dev/null)
}
started=$SECONDS
while [ $((SECONDS - started)) -lt "$budget" ] && [ -n "$(jobs -pr)" ]; do
  sleep 30
  publish
  tail -qn1 "$runs"/*.log
done
kill $(jobs -pr) 2>/dev/null
wait
publish
tail -n3 "$runs"/*.log
ls -la "$OUT"
