#!/bin/sh
# vae-train as a user meets it: --help, one clear error line and a non-zero exit for every kind of
# bad input (checked before any training), bit-identical output from the same seed and thread count,
# and the --report pictures. Usage: tests/train/test_cli.sh BUILD_DIR
set -u
train="$1/vae-train"
mini="tests/data/mnist-mini"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect STATUS SUBSTRING -- ARGS...: exit status and a single stderr line containing SUBSTRING
expect() {
    want_status=$1; want_text=$2; shift 3
    checks=$((checks + 1))
    "$train" "$@" >"$tmp/out" 2>"$tmp/err"
    status=$?
    if [ "$status" -ne "$want_status" ]; then
        fail "vae-train $*: exit $status, expected $want_status ($(cat "$tmp/err"))"
    elif ! grep -qF -- "$want_text" "$tmp/err"; then
        fail "vae-train $*: stderr lacks '$want_text': $(cat "$tmp/err")"
    elif [ "$(wc -l <"$tmp/err")" -ne 1 ]; then
        fail "vae-train $*: expected one error line, got: $(cat "$tmp/err")"
    fi
}

checks=$((checks + 1))
"$train" --help >"$tmp/help" 2>&1 || fail "--help exited non-zero"
for flag in --data --out --epochs --batch --lr --hidden --latent --activation --beta --seed --threads --report \
    --eval-iwae --annotate --binarize --kl-warmup --ema --ood-data --measure-completion --normalize --score-k \
    --dtype; do
    grep -q -- "$flag " "$tmp/help" || fail "--help does not mention $flag"
done

# nonsense flags
expect 2 "--data DIR is required" -- --epochs 1
expect 2 "--epochs: 'abc' is not an integer" -- --data "$mini" --epochs abc
expect 2 "--epochs: 0 is out of range" -- --data "$mini" --epochs 0
expect 2 "--batch: '12x' is not an integer" -- --data "$mini" --batch 12x
expect 2 "--lr: -1 is out of range" -- --data "$mini" --lr -1
expect 2 "--lr: 'nan' is not a finite number" -- --data "$mini" --lr nan
expect 2 "--hidden: hidden sizes '400,,2'" -- --data "$mini" --hidden 400,,2
expect 2 "--hidden: hidden sizes '0'" -- --data "$mini" --hidden 0
expect 2 "--activation: 'gelu' is not relu, leaky_relu or tanh" -- --data "$mini" --activation gelu
expect 2 "--latent: 0 is out of range" -- --data "$mini" --latent 0
expect 2 "unknown option '--epoch'" -- --data "$mini" --epoch 3
expect 2 "--out needs a value" -- --data "$mini" --out
expect 2 "--seed: '-3' is not a non-negative integer" -- --data "$mini" --seed -3
expect 2 "--binarize: 'static' is not none or dynamic" -- --data "$mini" --binarize static
expect 2 "--eval-iwae: 0 is out of range" -- --data "$mini" --eval-iwae 0
expect 2 "--score-k: 'many' is not an integer" -- --data "$mini" --score-k many
expect 2 "--normalize: 'center' is not mnist, fill or none" -- --data "$mini" --normalize center
expect 2 "--kl-warmup 5 is longer than --epochs 2" -- --data "$mini" --kl-warmup 5 --epochs 2
expect 2 "--ema: 1 is out of range" -- --data "$mini" --ema 1
expect 2 "--annotate takes the model from its file: --hidden does not apply" -- --data "$mini" --annotate x.st --hidden 8
expect 2 "--measure-completion: 0 is out of range" -- --data "$mini" --measure-completion 0
expect 2 "--dtype: 'F64' is not F32, F16 or BF16" -- --data "$mini" --dtype F64
expect 1 "nowhere.safetensors: cannot open" -- --data "$mini" --annotate "$tmp/nowhere.safetensors" --out "$tmp/a.st"

# bad data, found before training starts
expect 1 "cannot open" -- --data "$tmp/nowhere" --out "$tmp/m.st"
mkdir -p "$tmp/trunc" "$tmp/magic" "$tmp/count" "$tmp/plain"
cp "$mini"/* "$tmp/trunc/"
gzip -dc "$mini/train-images-idx3-ubyte.gz" | head -c 50000 | gzip >"$tmp/trunc/train-images-idx3-ubyte.gz"
expect 1 "truncated" -- --data "$tmp/trunc" --out "$tmp/m.st"
cp "$mini"/* "$tmp/magic/"
{ printf '\000\000\010\004'; gzip -dc "$mini/train-images-idx3-ubyte.gz" | tail -c +5; } | gzip >"$tmp/magic/train-images-idx3-ubyte.gz"
expect 1 "bad magic 0x00000804: expected 0x00000803" -- --data "$tmp/magic" --out "$tmp/m.st"
cp "$mini"/* "$tmp/count/"
cp "$mini/t10k-labels-idx1-ubyte.gz" "$tmp/count/train-labels-idx1-ubyte.gz"
expect 1 "500 labels for 1000 images" -- --data "$tmp/count" --out "$tmp/m.st"
head -c 100 /dev/urandom >"$tmp/magic/t10k-labels-idx1-ubyte.gz"
cp "$mini"/train* "$tmp/magic/" 2>/dev/null
expect 1 "t10k-labels-idx1-ubyte.gz" -- --data "$tmp/magic" --out "$tmp/m.st"
expect 1 "cannot write $tmp/no/such/dir/m.safetensors" -- --data "$mini" --out "$tmp/no/such/dir/m.safetensors"

# uncompressed idx files work too
for f in "$mini"/*.gz; do gzip -dc "$f" >"$tmp/plain/$(basename "$f" .gz)"; done
checks=$((checks + 1))
"$train" --data "$tmp/plain" --out "$tmp/plain.st" --epochs 1 --hidden 32 --latent 4 --quiet >/dev/null 2>"$tmp/err" ||
    fail "training on uncompressed idx files failed: $(cat "$tmp/err")"

# same seed and thread count: bit-identical weights; another seed: different. Each run writes m.st in
# its own directory, so the command line recorded in the metadata is the same too.
train_abs=$(cd "$(dirname "$train")" && pwd)/vae-train
mini_abs=$(cd "$mini" && pwd)
run() { dir=$1; shift; mkdir -p "$tmp/$dir" && (cd "$tmp/$dir" &&
        "$train_abs" --data "$mini_abs" --epochs 2 --hidden 64,32 --latent 4 --threads 2 --quiet --out m.st "$@" \
        >/dev/null 2>err) || fail "training failed: $(cat "$tmp/$dir/err")"; }
checks=$((checks + 3))
run a --seed 7
run b --seed 7
run c --seed 8
cmp -s "$tmp/a/m.st" "$tmp/b/m.st" || fail "same seed and threads gave different weight files"
cmp -s "$tmp/a/m.st" "$tmp/c/m.st" && fail "different seeds gave identical weight files"
grep -q '"command":"[^"]*--seed 7' "$tmp/a/m.st" || fail "metadata lacks the command line"

# the training images' preparation, recognised (the mini set is MNIST's) or given
checks=$((checks + 3))
grep -q '"normalize":"mnist"' "$tmp/a/m.st" || fail "metadata lacks normalize mnist (recognised from the images)"
run d --seed 7 --normalize fill
grep -q '"normalize":"fill"' "$tmp/d/m.st" || fail "--normalize fill is not recorded"
# --annotate recomputes the statistics and the record, and leaves the network's tensors as they are
"$train" --annotate "$tmp/d/m.st" --data "$mini" --quiet >"$tmp/out" 2>"$tmp/err" ||
    fail "--annotate failed: $(cat "$tmp/err")"
python3 - "$tmp/a/m.st" "$tmp/d/m.st" <<'PY' || fail "--annotate changed the network or did not record normalize"
import json, struct, sys
def parts(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    md = h.pop("__metadata__")
    net = {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()
           if k.startswith(("enc.", "dec."))}
    return md, net
(ma, na), (md, nd) = parts(sys.argv[1]), parts(sys.argv[2])
sys.exit(0 if na == nd and len(na) >= 8 and md["normalize"] == "mnist" else 1)
PY

# the report: every picture and the CSV
checks=$((checks + 1))
"$train" --data "$mini" --epochs 2 --hidden 64 --latent 2 --quiet --out "$tmp/r.st" --report "$tmp/report" \
    >"$tmp/out" 2>"$tmp/err" || fail "--report run failed: $(cat "$tmp/err")"
for f in samples.png reconstructions.png morph_3_to_8.png latent_map.png loss.png epochs.csv manifold.png \
    traversal.png evaluation.txt; do
    checks=$((checks + 1))
    [ -s "$tmp/report/$f" ] || fail "--report did not write $f"
done
[ "$(wc -l <"$tmp/report/epochs.csv")" -eq 3 ] || fail "epochs.csv should have a header and 2 rows"
grep -q "^epoch   1/2  train" "$tmp/out" || fail "no per-epoch line: $(cat "$tmp/out")"

# the statistics in every trained file; --eval-iwae, --binarize, --kl-warmup and --ema recorded
checks=$((checks + 1))
"$train" --data "$mini" --epochs 2 --hidden 32 --latent 3 --quiet --out "$tmp/s.st" --eval-iwae 20 \
    --binarize dynamic --kl-warmup 1 --ema 0.99 >"$tmp/out" 2>"$tmp/err" || fail "--eval-iwae run failed: $(cat "$tmp/err")"
grep -q "^vae-train: test NLL [0-9.]* nats per image (importance-weighted, K = 20" "$tmp/out" ||
    fail "no NLL line: $(cat "$tmp/out")"
for key in '"score.nll"' '"score.corrected"' '"score.ood"' '"class_std"' '"plane.dirs"' '"diag.mu_var"' \
    '"test_nll_k":"20"' '"score_k":"64"' '"binarize":"dynamic"' '"kl_warmup":"1"' '"ema":"0.99"' '"normalize":"mnist"'; do
    checks=$((checks + 1))
    grep -q -- "$key" "$tmp/s.st" || fail "trained file lacks $key"
done

# --annotate: a copy, then in place; the parameters stay, the tables are rewritten with the new settings
checks=$((checks + 3))
"$train" --annotate "$tmp/s.st" --data "$mini" --out "$tmp/s2.st" --normalize fill --score-k 8 --eval-iwae 5 \
    >"$tmp/out" 2>"$tmp/err" || fail "--annotate failed: $(cat "$tmp/err")"
grep -q '"normalize":"fill"' "$tmp/s2.st" && grep -q '"score_k":"8"' "$tmp/s2.st" && grep -q '"test_nll_k":"5"' "$tmp/s2.st" ||
    fail "annotated copy lacks its settings"
cp "$tmp/s.st" "$tmp/s3.st"
"$train" --annotate "$tmp/s3.st" --data "$mini" --normalize fill --score-k 8 --eval-iwae 5 >/dev/null 2>"$tmp/err" ||
    fail "--annotate in place failed: $(cat "$tmp/err")"
cmp -s "$tmp/s2.st" "$tmp/s3.st" || fail "annotating in place and into a copy differ"
[ -z "$(ls "$tmp" | grep '\.tmp\.')" ] || fail "temporary files left: $(ls "$tmp")"

# the scores (tables, NLL, OOD) spread over threads chunk by chunk, each chunk with its own seed: one,
# two and three threads write the same file
checks=$((checks + 1))
for t in 1 2 3; do
    "$train" --annotate "$tmp/s.st" --data "$mini" --out "$tmp/threads$t.st" --eval-iwae 5 --ood-data "$mini" \
        --threads $t >/dev/null 2>"$tmp/err" || fail "--annotate --threads $t failed: $(cat "$tmp/err")"
done
cmp -s "$tmp/threads1.st" "$tmp/threads2.st" && cmp -s "$tmp/threads1.st" "$tmp/threads3.st" ||
    fail "--annotate on 1, 2 and 3 threads wrote different files"

# measurements and the latent pictures of --report in annotate mode
checks=$((checks + 1))
"$train" --annotate "$tmp/s.st" --data "$mini" --out "$tmp/s4.st" --ood-data "$mini" --measure-completion 3 \
    --report "$tmp/ann" >"$tmp/out" 2>"$tmp/err" || fail "--annotate with measurements failed: $(cat "$tmp/err")"
for f in ood_auroc.csv roc.png completion.csv completion.png evaluation.txt manifold.png traversal.png; do
    checks=$((checks + 1))
    [ -s "$tmp/ann/$f" ] || fail "--annotate --report did not write $f"
done
checks=$((checks + 2))
grep -q "Fisher's combination (ood_score)" "$tmp/out" || fail "no AUROC table: $(cat "$tmp/out")"
grep -q "pseudo-Gibbs" "$tmp/out" && grep -q "MwG" "$tmp/out" || fail "no completion table: $(cat "$tmp/out")"

# --dtype: the weights rounded and stored as F16 (the optional tensors as F32), and every figure in the
# file measured on the rounded weights: the same file whether rounded at the end of training or by
# --annotate afterwards (which needs --eval-iwae again when the file holds a test NLL); BF16 likewise
checks=$((checks + 5))
run h --seed 7 --eval-iwae 5 --dtype f16
run f --seed 7 --eval-iwae 5
"$train" --annotate "$tmp/f/m.st" --data "$mini" --dtype F16 --out "$tmp/f16.st" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] && grep -qF -- "--dtype F16 changes the weights, so the file's test NLL would no longer be theirs: add --eval-iwae 5" "$tmp/err" ||
    fail "--annotate --dtype without --eval-iwae on a file with a test NLL: $(cat "$tmp/err")"
[ ! -e "$tmp/f16.st" ] || fail "a refused --annotate --dtype wrote its file"
(cd "$tmp/f" && "$train_abs" --annotate m.st --data "$mini_abs" --dtype F16 --eval-iwae 5 --threads 2 --out m16.st \
    >/dev/null 2>err) || fail "--annotate --dtype F16 failed: $(cat "$tmp/f/err")"
(cd "$tmp/f" && "$train_abs" --annotate m.st --data "$mini_abs" --dtype bf16 --eval-iwae 5 --threads 2 --out mb.st \
    >/dev/null 2>err) || fail "--annotate --dtype BF16 failed: $(cat "$tmp/f/err")"
# back to F32: the same values (the F16 ones), F32 tensors, no figure measured again (no --eval-iwae needed)
checks=$((checks + 1))
(cd "$tmp/f" && "$train_abs" --annotate m16.st --data "$mini_abs" --dtype f32 --threads 2 --out m32.st \
    >/dev/null 2>err) || fail "--annotate --dtype F32 of an F16 file failed: $(cat "$tmp/f/err")"
python3 - "$tmp/f/m16.st" "$tmp/f/m32.st" <<'PY' || fail "--dtype F32 of an F16 file"
import json, struct, sys
def tensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    md = h.pop("__metadata__")
    out = {}
    for k, v in h.items():
        raw = b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]
        code = {"F32": "f", "F16": "e"}[v["dtype"]]
        out[k] = (v["dtype"], struct.unpack("<%d%s" % (len(raw) // struct.calcsize(code), code), raw))
    return md, out
m16, t16 = tensors(sys.argv[1])
m32, t32 = tensors(sys.argv[2])
ok = all(t32[k][0] == "F32" and t32[k][1] == t16[k][1] for k in t16)
ok = ok and all(m32[k] == m16[k] for k in ("test_loss", "test_nll", "rounded_to"))
sys.exit(0 if ok else 1)
PY
python3 - "$tmp/f/m.st" "$tmp/h/m.st" "$tmp/f/m16.st" "$tmp/f/mb.st" <<'PY' || fail "--dtype files"
import json, struct, sys
def parts(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    md = h.pop("__metadata__")
    net = {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()
           if k.startswith(("enc.", "dec."))}
    return len(b), h, md, net
la, ha, ma, na = parts(sys.argv[1])
lh, hh, mh, nh = parts(sys.argv[2])
_, hf, mf, nf = parts(sys.argv[3])
_, hb, mb, nb = parts(sys.argv[4])
problems = []
if set(v["dtype"] for k, v in hh.items() if k in nh) != {"F16"}: problems.append("trained F16 file's parameters are not F16")
if set(v["dtype"] for k, v in hh.items() if k not in nh) != {"F32"}: problems.append("optional tensors are not F32")
if set(v["dtype"] for k, v in hb.items() if k in nb) != {"BF16"}: problems.append("BF16 file's parameters are not BF16")
params = sum(len(v) for v in na.values()) // 4
if la - lh < params * 2 - 64: problems.append("F16 file %d bytes against %d" % (lh, la))
if nh != nf: problems.append("rounded at training's end and by --annotate differ")
for key in ("test_loss", "test_bce", "test_kl", "test_nll", "rounded_to"):
    if mh.get(key) != mf.get(key): problems.append("%s: %s against %s" % (key, mh.get(key), mf.get(key)))
if mh.get("rounded_to") != "F16" or mb.get("rounded_to") != "BF16": problems.append("rounded_to not recorded")
for k in ("score.nll", "centroids", "plane.dirs"):
    if hh[k]["data_offsets"] == ha[k]["data_offsets"]: problems.append("%s not moved" % k)
print("\n".join(problems), file=sys.stderr)
sys.exit(1 if problems else 0)
PY

if [ "$failures" -ne 0 ]; then
    echo "tests/train/test_cli.sh: $failures of $checks checks FAILED" >&2
    exit 1
fi
echo "tests/train/test_cli.sh: all $checks checks passed"
