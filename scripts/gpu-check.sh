#!/usr/bin/env bash
# Checks the CUDA path of the adversarial attacks on a GPU machine, in one run.
#
#   bash scripts/gpu-check.sh BIN_DIR [OUT_DIR]
#
# BIN_DIR holds gpu_check.py and binaries of one `--features cuda` release build,
# each plain or .xz, each optional:
#   device_check       cargo build --release -p mmsafe-adversarial --features cuda --example device_check
#   adversarial-tests  the mmsafe-adversarial integration-test binary (cargo test --release ... --no-run)
#   mmsafe             the CLI (cargo build --release -p mmsafe-cli --features cuda)
# The machine needs the NVIDIA driver, the CUDA 13 libraries (cublas, cublasLt,
# curand, cudart) and python3 with numpy, safetensors, PIL, torch and
# transformers. Everything printed goes to OUT_DIR/log.txt; JSON results to
# OUT_DIR/*.json*. docs/adversarial.md ("GPU") records what a run measured.
set -u
G=$(cd "${1:?usage: gpu-check.sh BIN_DIR [OUT_DIR]}" && pwd)
OUT=${2:-${OUT:-/tmp/gpu-check-out}}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1
W=/tmp/gpu-check
rm -rf "$W" && mkdir -p "$W/o"
PY="python3 $G/gpu_check.py"
R="$OUT/results.jsonl"
FAILED=()
step() { echo; echo "=== $* ($(date +%T))"; }
# Run a check, keep going on failure, remember which failed.
check() {
    local name=$1
    shift
    if ! "$@"; then
        echo "!!! FAILED: $name"
        FAILED+=("$name")
    fi
}

step "GPU"
nvidia-smi
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv
nproc

step "binaries and libraries"
for f in device_check adversarial-tests mmsafe; do
    if [ -f "$G/$f.xz" ]; then
        xz -dc "$G/$f.xz" >"$W/$f" && chmod +x "$W/$f"
    elif [ -f "$G/$f" ]; then
        cp "$G/$f" "$W/$f" && chmod +x "$W/$f"
    fi
done
ls -la "$W"
# The binaries link the driver (libcuda.so.1) and CUDA 13's cuBLAS, cuBLASLt,
# cuRAND, NVRTC and the runtime; on a PyTorch image those sit in the wheels'
# folders, which the loader does not search by default.
libdirs=$(find /usr/local/cuda/lib64 /usr/local/cuda/targets /usr/local/nvidia /usr/lib /opt /usr/local/lib \
    \( -name 'libcublas.so.13' -o -name 'libcublasLt.so.13' -o -name 'libcurand.so.10' \
    -o -name 'libnvrtc.so.13' -o -name 'libcudart.so.13' -o -name 'libcuda.so.1' \) \
    -printf '%h\n' 2>/dev/null | awk '!seen[$0]++' | tr '\n' ':')
export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:-}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
for f in "$W"/device_check "$W"/adversarial-tests "$W"/mmsafe; do
    [ -x "$f" ] && { echo "$f:"; ldd "$f" | grep -E 'cuda|cublas|curand|nvrtc|cudart|not found|stdc'; }
done

step "fixtures: ViT-B/32-shaped CLIP with random weights (HF layout), tiny CLIPs, images"
check make-vitb32 $PY make-clip "$W/vitb32" vitb32 0
check make-tiny $PY make-clip "$W/tiny" tiny 1
check make-tiny2 $PY make-clip "$W/tiny2" tiny 2
check make-images $PY make-images "$W/img"

if [ -x "$W/adversarial-tests" ]; then
    step "mmsafe-adversarial integration tests on CUDA (MMSAFE_TEST_DEVICE=cuda)"
    check tests-cuda env MMSAFE_TEST_DEVICE=cuda timeout 180 "$W/adversarial-tests" --test-threads 1
fi

if [ -x "$W/device_check" ]; then
    step "device_check: agreement, the tests' attacks CPU vs CUDA, bench, ViT-B/32 end to end"
    check device-check bash -o pipefail -c "timeout 240 $W/device_check cuda $W/vitb32 | tee $OUT/device_check.jsonl"
fi

if [ -x "$W/mmsafe" ]; then

# The tests' attacks through the binary, on the CPU and on CUDA, then compared.
attack() { # NAME MODE DEVICE ARGS...
    local name=$1 mode=$2 dev=$3
    shift 3
    timeout 90 "$W/mmsafe" attack "adversarial:$mode" --image "$W/img/clean.png" \
        --device "$dev" --out "$W/o/$name-$dev" "$@"
}
pair() { # NAME MODE EPS ARGS...
    local name=$1 mode=$2 eps=$3
    shift 3
    step "attack $name: cpu vs cuda"
    check "$name-cpu" attack "$name" "$mode" cpu --eps "$eps" "$@"
    check "$name-cuda" attack "$name" "$mode" cuda --eps "$eps" "$@"
    echo "{\"check\":\"$name\"}" >>"$R"
    check "$name-compare" bash -o pipefail -c "$PY compare $W/o/$name-cpu $W/o/$name-cuda $eps | tee -a $R"
}
common=(--step 2/255 --steps 30 --seed 7 --surrogate "$W/tiny")
pair embed-text embed-text 32/255 "${common[@]}" --target-text "a photo of a cat"
pair embed-image embed-image 32/255 "${common[@]}" --target-image "$W/img/goal.png"
pair untargeted untargeted 32/255 "${common[@]}"
pair l2-eot embed-text 1 --optimizer pgd-l2 --step 0.2 --steps 30 --seed 3 --eot 3 \
    --surrogate "$W/tiny" --target-text "a photo of a cat"
pair ensemble embed-image 32/255 "${common[@]}" --surrogate "$W/tiny2" --restarts 2 \
    --target-image "$W/img/goal.png"
step "adam (cuda only: its loss check differs from the PGD ones)"
check adam-cuda attack adam embed-image cuda --optimizer adam --eps 1 --step 0.01 "${common[@]}" \
    --target-image "$W/img/goal.png"

step "bench adversarial (ViT-B/32 shapes, random weights): CPU vs CUDA, and their agreement"
check bench bash -o pipefail -c "timeout 240 $W/mmsafe bench adversarial --device cuda --steps 5 --json | tee $OUT/bench.json"
cat "$OUT/bench.json" >>"$R"

step "ViT-B/32 end to end through the CLI: 640x480 photo, embed-image"
vit() { # DEVICE STEPS
    timeout 120 "$W/mmsafe" attack adversarial:embed-image --surrogate "$W/vitb32" \
        --image "$W/img/photo.png" --target-image "$W/img/goal.png" --steps "$2" --seed 1 \
        --device "$1" --out "$W/o/vit-$1"
}
check vit-cuda vit cuda 200
check vit-cpu vit cpu 10
fi

step "PyTorch peer baseline: the same PGD step on the same weights"
check torch-pgd bash -o pipefail -c "timeout 150 $PY torch-pgd $W/vitb32 20 | tee -a $R"

step "summary"
if [ ${#FAILED[@]} -eq 0 ]; then
    echo "all checks passed"
else
    echo "failed: ${FAILED[*]}"
    exit 1
fi
