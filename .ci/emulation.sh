#!/usr/bin/env bash
# The CUDA kernels proven on the CPU (docs/emulation.md): builds csrc/emu's ag_emu -- the
# csrc/cuda/*.cu kernels compiled by the host compiler against the emulator, with the CPU
# twins, under AddressSanitizer and UBSan -- and runs the tests marked `emulation`
# (every kernel against its CPU twin bit for bit in three thread orders, the emulator's
# self-tests, the cost targets, the _core entry points' argument checks).
#
# Needs cmake, a C++17 compiler and the repository's venv active (pytest; anomgrad
# installed for the entry-point tests, which skip when _core has no CUDA kernels).
# No GPU.  Extra arguments go to pytest.   AG_EMU_BUILD (build/emu), AG_EMU_JOBS (2).
#   --mutants   afterwards, show that the tests can fail: one defect at a time (a barrier
#               removed, an index shifted, a check dropped) must be caught (a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

MUTANTS=0
ARGS=()
for a in "$@"; do
  if [ "$a" = "--mutants" ]; then MUTANTS=1; else ARGS+=("$a"); fi
done

BUILD="${AG_EMU_BUILD:-build/emu}"
JOBS="${AG_EMU_JOBS:-2}"

echo "== emulation: building ag_emu in $BUILD (AddressSanitizer + UBSan)"
cmake -S csrc/emu -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAG_EMU_SANITIZE=ON >/dev/null
cmake --build "$BUILD" -j "$JOBS"

echo "== emulation: tests"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
AG_EMU_BIN="$BUILD/ag_emu" python -m pytest -q -m emulation tests/emulation ${ARGS[@]+"${ARGS[@]}"}
if [ "$MUTANTS" = 1 ]; then
  echo "== emulation: mutants (each must be caught)"
  python tests/emulation/mutants.py
fi
echo "== emulation passed"
