// Stand-in for the CUDA toolkit's cuda_runtime.h in the emulation build: csrc/cuda/*.cu
// compiled by the host compiler see the emulator (csrc/emu/emu.h) instead.
#pragma once
#include "emu/emu.h"
