#!/usr/bin/env bash
# Sets up what `cargo build --features cuda` needs on a machine without a CUDA
# install (no GPU needed): nvcc, headers and CUDA 13.0 libraries from PyPI wheels,
# unversioned .so links for the linker, and a link-time stub of the driver API.
#
#   source <(bash scripts/cuda-toolchain.sh [VENV_DIR])   # then: cargo build --features cuda …
#
# The versions are pinned to CUDA 13.0 on purpose: candle compiles its kernels to
# PTX, which the GPU's driver must be able to JIT. A driver of the 580 series
# (CUDA 13.0) rejects PTX from a newer nvcc (CUDA_ERROR_UNSUPPORTED_PTX_VERSION).
set -euo pipefail
VENV=${1:-$HOME/.cache/mmsafe/cuda-venv}
if [ ! -x "$VENV/bin/pip" ]; then
    python3 -m venv "$VENV" >&2
fi
"$VENV/bin/pip" install -q \
    nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 \
    nvidia-cuda-runtime==13.0.88 nvidia-cuda-nvrtc==13.0.88 'nvidia-cublas==13.0.*' \
    'nvidia-curand==10.4.0.*' 'nvidia-cuda-cccl==13.0.*' >&2
C=$("$VENV/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
# The wheels ship only versioned sonames; `-lcublas` needs the plain name.
for l in cudart.so.13 cublas.so.13 cublasLt.so.13 curand.so.10 nvrtc.so.13; do
    ln -sf "lib$l" "$C/lib/lib${l%.*}"
done
# cudarc (candle's `dynamic-linking`) links -lcuda. The real libcuda.so.1 comes
# with the driver on the GPU machine; the linker only needs the symbol names.
mkdir -p "$C/lib/stubs"
SYS=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.*/src/driver/sys/mod.rs | tail -1)
grep -oE '^pub unsafe fn cu[A-Za-z0-9_]+' "$SYS" | awk '{print "void "$4"(void){}"}' | sort -u \
    >"$C/lib/stubs/libcuda_stub.c"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$C/lib/stubs/libcuda.so" "$C/lib/stubs/libcuda_stub.c"
cat <<EOF
export PATH=$C/bin:\$PATH
export CUDA_ROOT=$C CUDA_HOME=$C CUDA_PATH=$C
export CUDA_COMPUTE_CAP=\${CUDA_COMPUTE_CAP:-90} CUDARC_CUDA_VERSION=13000
EOF
