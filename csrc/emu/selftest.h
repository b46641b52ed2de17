// Self-tests of the emulator (csrc/emu/selftest.cpp): toy kernels showing that the
// launch checks, barriers, thread orders, shared-memory poisoning, warp intrinsics and
// the cost model do what docs/emulation.md says.  Returns "" on success, throws on failure.
#pragma once
#include <string>

std::string emu_selftest(const std::string& name);
