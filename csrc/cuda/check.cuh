// Error checking for kernel launches: every launch is followed by check_launch, which
// turns a CUDA error into a C++ exception (pybind11 raises it as RuntimeError).
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace anomgrad::cuda {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace anomgrad::cuda
