#!/bin/sh
# make bench-train (and the end of make bench): vae-train against the canonical PyTorch example on the
# same data, side by side in one run (784-400-20, batch 128, Adam 1e-3, EPOCHS epochs, 2 threads). The
# two alternate, ROUNDS PyTorch runs each between two vae-train runs (ours, PyTorch, ours, PyTorch,
# ..., ours), and each PyTorch run is compared with the vae-train runs on either side of it: this
# machine's speed changes from minute to minute (see the README), and a ratio of runs taken minutes
# apart mostly measures that. The compute ceiling is measured before and after (peak_flops, the
# better reading kept) and the training step's share of it printed. No OpenBLAS variables are set:
# the environment as a user has it. Prints figures; asserts nothing.
# Usage: tests/bench/bench_train.sh VAE_TRAIN DATA_DIR [PEAK_FLOPS]
set -eu
train=$1
data=$2
peak_bin=${3:-$(dirname "$train")/bench/peak_flops}
epochs=${EPOCHS:-10}
rounds=${ROUNDS:-2}
threads=2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# multiply-adds per image of 784-400-20: forward, weight gradients, and input gradients of every layer
# but the first (whose input is the data)
macs_fwd=$((784 * 400 + 400 * 20 * 2 + 20 * 400 + 400 * 784))
macs_step=$((3 * macs_fwd - 784 * 400))

ours() {
    echo "== vae-train: 784-400-20 relu, batch 128, $threads threads, $epochs epochs on $data (run $1)"
    "$train" --data "$data" --out "$tmp/m.safetensors" --epochs "$epochs" --batch 128 --threads $threads \
        --hidden 400 --latent 20 --quiet >"$tmp/ours$1.log"
    cat "$tmp/ours$1.log"
}
# "... lr 1.00e-03    1.92 s  + 0.31 s test": the training seconds are the field before the first "s",
# the test evaluation's the field before "s test". Prints the mean and the median seconds per epoch,
# the mean test evaluation and the last test loss. The median is what the ratios use, for both
# trainers: a phase of the machine that slows a few epochs moves the mean, not the median.
# median(s, n): the median of s[0..n), which it sorts. (Counters start at 0 in BEGIN: an unset n
# would make the first key "", not 0.)
median_awk='function median(s, n,   i, j, x) {
    for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (s[j] < s[i]) {x = s[i]; s[i] = s[j]; s[j] = x}
    return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}'
summary() {
    awk "$median_awk"'
         BEGIN {n = 0}
         /^epoch/ {for (i = 1; i < NF; i++) if ($(i+1) == "s") {s[n] = $i; sum += $i; break};
                   for (i = 1; i < NF; i++) if ($(i+1) == "s" && $(i+2) == "test") t += $i; n++; loss = $6}
         END {printf "%.3f %.3f %.3f %.2f", sum / n, median(s, n), t / n, loss}' "$1"
}
# torch_vae.py: "epoch   1/10  train ...  test ...    4.90 s"
torch_summary() {
    awk "$median_awk"'
         BEGIN {n = 0}
         /^epoch/ {s[n] = $(NF-1); sum += $(NF-1); n++; loss = $6}
         END {printf "%.3f %.3f %.2f", sum / n, median(s, n), loss}' "$1"
}
# The probe's best of several readings: a reading taken while this machine runs both threads on one
# CPU (see the README) is half the ceiling.
probe() {
    "$peak_bin" $threads >"$tmp/peak$1"
    sed -n 's/^peak //p' "$tmp/peak$1"
}

peak=0
if [ -x "$peak_bin" ]; then
    peak=$(probe 1)
    echo "== compute ceiling (before): $(tr '\n' ' ' <"$tmp/peak1")"
fi
have_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1
[ $have_torch = 1 ] || rounds=0
ours 1
r=1
while [ $r -le $rounds ]; do
    echo "== PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') (run $r): the canonical example, same data and settings"
    /usr/bin/python3 "$(dirname "$0")/torch_vae.py" "$data" --epochs "$epochs" --threads $threads | tee "$tmp/torch$r.log"
    r=$((r + 1))
    ours $r
done

if [ -x "$peak_bin" ]; then
    after=$(probe 2)
    echo "== compute ceiling (after): $(tr '\n' ' ' <"$tmp/peak2")"
    peak=$(awk -v a="$peak" -v b="$after" 'BEGIN {print (a > b ? a : b)}')
    echo "== compute ceiling: $peak GFLOP/s, the better of the two readings"
fi

echo
echo "| trainer | seconds per epoch, median (mean) | test evaluation | test loss after $epochs epochs | training step at the median, GFLOP/s | of the ceiling |"
echo "| --- | --- | --- | --- | --- | --- |"
r=1
while [ $r -le $((rounds + 1)) ]; do
    set -- $(summary "$tmp/ours$r.log")
    awk -v mean="$1" -v s="$2" -v t="$3" -v l="$4" -v r="$r" -v m="$macs_step" -v p="$peak" 'BEGIN {
        g = 2 * m * 22699 / s / 1e9
        printf "| vae-train (run %d) | %.3f s (%.3f s) | %.3f s | %.2f | %.0f | %s |\n", r, s, mean, t, l, g, (p > 0 ? sprintf("%.0f%%", 100 * g / p) : "")}'
    if [ $r -le $rounds ]; then
        set -- $(torch_summary "$tmp/torch$r.log")
        echo "| PyTorch (run $r) | $2 s ($1 s) | | $3 | | |"
    fi
    r=$((r + 1))
done
r=1
while [ $r -le $rounds ]; do
    before=$(summary "$tmp/ours$r.log" | cut -d' ' -f2)
    after=$(summary "$tmp/ours$((r + 1)).log" | cut -d' ' -f2)
    torch=$(torch_summary "$tmp/torch$r.log" | cut -d' ' -f2)
    awk -v a="$before" -v b="$after" -v t="$torch" -v r="$r" 'BEGIN {
        printf "PyTorch run %d: vae-train takes %.3f of its time per epoch (medians: %.3f s and %.3f s on either side against %.3f s; %.1fx faster; the target is at most 0.125)\n",
               r, (a + b) / 2 / t, a, b, t, 2 * t / (a + b)}'
    r=$((r + 1))
done
mem=$(sed -n 's/.*peak memory \([0-9.]*\) MB.*/\1/p' "$tmp/ours1.log")
echo "vae-train peak memory $mem MB; training images 22699; $macs_step multiply-adds per image per step"
