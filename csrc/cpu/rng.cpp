// CPU twin of csrc/cuda/rng.cu: the RNG contract evaluated by the shared header.
#include "anomgrad/kernels.h"
#include "anomgrad/rng.h"

namespace anomgrad::cpu {

void rng_words(uint32_t* out, int64_t n_traj, int64_t count, uint64_t seed, uint64_t traj0,
               uint32_t stream) {
  for (int64_t i = 0; i < n_traj; ++i) {
    uint32_t* row = out + i * count;
    for (int64_t b = 0; b < count / 4; ++b) {
      const Words w = philox_block(seed, traj0 + uint64_t(i), stream, uint32_t(b));
      for (int q = 0; q < 4; ++q) row[4 * b + q] = w.w[q];
    }
  }
}

void rng_normals(double* out, int64_t n_traj, int64_t count, uint64_t seed, uint64_t traj0,
                 uint32_t stream) {
  for (int64_t i = 0; i < n_traj; ++i) {
    double* row = out + i * count;
    for (int64_t j = 0; j < count; ++j) row[j] = normal_at(seed, traj0 + uint64_t(i), stream, j);
  }
}

}  // namespace anomgrad::cpu
