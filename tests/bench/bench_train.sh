#!/bin/sh
# make bench-train: vae-train against the canonical PyTorch example on the same data, side by side in
# one run (784-400-20, batch 128, Adam 1e-3, 10 epochs, 2 threads). Prints figures; asserts nothing.
# Usage: tests/bench/bench_train.sh VAE_TRAIN DATA_DIR
set -eu
train=$1
data=$2
epochs=${EPOCHS:-10}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== vae-train: 784-400-20 relu, batch 128, 2 threads, $epochs epochs on $data"
"$train" --data "$data" --out "$tmp/m.safetensors" --epochs "$epochs" --batch 128 --threads 2 \
    --hidden 400 --latent 20 --quiet | tee "$tmp/ours.log"

torch_line="(PyTorch not installed: apt-get install python3-torch to compare)"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    echo "== PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'): the canonical example, same data and settings"
    /usr/bin/python3 "$(dirname "$0")/torch_vae.py" "$data" --epochs "$epochs" --threads 2 | tee "$tmp/torch.log"
    torch_line=$(awk '/^epoch/ {s += $(NF-1); n++; loss = $6} END {printf "%.2f s/epoch, test loss %.2f", s / n, loss}' "$tmp/torch.log")
fi
# "... lr 1.00e-03    1.92 s  + 0.31 s test": the training seconds are the field before the first "s"
ours=$(awk '/^epoch/ {for (i = 1; i < NF; i++) if ($(i+1) == "s") {s += $i; break}; n++; loss = $6}
            END {printf "%.2f s/epoch, test loss %.2f", s / n, loss}' "$tmp/ours.log")
mem=$(sed -n 's/.*peak memory \([0-9.]*\) MB.*/\1/p' "$tmp/ours.log")
echo
echo "| trainer | seconds per epoch, test loss after $epochs epochs | peak memory |"
echo "| --- | --- | --- |"
echo "| vae-train | $ours | $mem MB |"
echo "| PyTorch | $torch_line | |"
if [ -f "$tmp/torch.log" ]; then
    awk -v a="$(echo "$ours" | cut -d' ' -f1)" -v b="$(echo "$torch_line" | cut -d' ' -f1)" \
        'BEGIN {printf "vae-train takes %.2f of PyTorch'"'"'s time per epoch (%.1fx faster)\n", a / b, b / a}'
fi
