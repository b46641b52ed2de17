// Declarations of the native kernels.  Every kernel has a CPU twin in csrc/cpu/ and a
// CUDA twin in csrc/cuda/ with the same arguments; the CUDA one also takes the
// cudaStream_t (as an integer handle) on which it is launched.  Pointers are raw
// buffers owned by the caller (numpy arrays on the CPU, torch tensors on the GPU).
#pragma once
#include <cstdint>

namespace anomgrad {

namespace cpu {
// out[i * count + j] = word j of (seed, traj0 + i, stream); count a multiple of 4.
void rng_words(uint32_t* out, int64_t n_traj, int64_t count, uint64_t seed, uint64_t traj0,
               uint32_t stream);
// out[i * count + j] = normal j of (seed, traj0 + i, stream).
void rng_normals(double* out, int64_t n_traj, int64_t count, uint64_t seed, uint64_t traj0,
                 uint32_t stream);
}  // namespace cpu

#ifdef ANOMGRAD_WITH_CUDA
namespace cuda {
bool device_available();
void rng_words(uint32_t* out, int64_t n_traj, int64_t count, uint64_t seed, uint64_t traj0,
               uint32_t stream, std::uintptr_t cuda_stream);
void rng_normals(double* out, int64_t n_traj, int64_t count, uint64_t seed, uint64_t traj0,
                 uint32_t stream, std::uintptr_t cuda_stream);
}  // namespace cuda
#endif

}  // namespace anomgrad
