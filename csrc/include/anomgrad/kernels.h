// Declarations of the native kernels.  Every kernel has a CPU twin in csrc/cpu/ and a
// CUDA twin in csrc/cuda/ with the same arguments; the CUDA one also takes the
// cudaStream_t (as an integer handle) on which it is launched.  Pointers are raw
// buffers owned by the caller (numpy arrays on the CPU, torch tensors on the GPU).
#pragma once
#include <cstdint>
#include <string>

namespace anomgrad {

// The error both FBM twins raise when a circulant embedding has a negative eigenvalue
// (impossible for fGn at a valid alpha): they report the most negative one met.
inline std::string negative_eigenvalue_message(double lo) {
  return "circulant embedding has a negative eigenvalue " + std::to_string(lo);
}

// std::invalid_argument naming the first of the `count` alphas outside `model`'s range
// (models.h alpha_range), worded as the Python layer words it.  The bindings call it
// before either twin runs (generate_cuda on a host copy of the device values); the twins
// themselves take any alpha, so the emulator can still drive FBM into a negative
// eigenvalue (alpha > 2) and compare how the twins report it.
void check_alpha_values(int model, const double* alpha, int64_t count);

// One call of a generator: trajectories start .. start + n - 1 of `model`
// (anomgrad::Model), written to out (n, dim, T) float32 (out_double false) or float64.
// alpha holds n values (alpha_per_traj) or one.  scratch: device work memory of the CUDA
// FBM kernel, scratch_bytes >= cuda::fbm_scratch_bytes(n, T) (allocated by the caller,
// torch on the current stream); the CPU twin ignores it.
struct GenerateArgs {
  int model;
  int64_t n;
  int dim;
  int64_t T;
  uint64_t seed;
  uint64_t start;
  const double* alpha;
  bool alpha_per_traj;
  void* out;
  bool out_double;
  void* scratch = nullptr;
  uint64_t scratch_bytes = 0;
};

// Processing of (n, dim, T) arrays (anomgrad/processing.py): x and out float32 or
// float64 (is_double); off[i] = T - L_i is the first valid index of row i (int64).
struct ProcessArgs {
  int64_t n;
  int dim;
  int64_t T;
  const void* x;
  void* out;
  bool is_double;
  const int64_t* off;
};

// Fused Grad-CAM (csrc/include/anomgrad/gradcam.h): activations A (n, K, L) and channel
// weights w (n, K), float32, to any of: the map upsampled to T (cam, (n, T), min-max
// scaled when minmax), the cell scores (cells, (n, L)), the band masks (bands,
// (n, nbands, L), 1 where every step of cell j lies strictly inside band b).  Null
// outputs are skipped.
struct CamArgs {
  int64_t n, K, L, T;
  const float* A;
  const float* w;
  bool relu, linear, minmax;
  float* cam;
  float* cells;
  uint8_t* bands;
  int nbands;
};

namespace cpu {
void gradcam(const CamArgs& c);
void generate(const GenerateArgs& g);
void normalize(const ProcessArgs& p);
// x + sigma_i N; N = normal (t - off_i) of stream 32 + a of trajectory start + i.
void add_noise(const ProcessArgs& p, const double* sigma, uint64_t seed, uint64_t start);
// g_i (x - x[off_i]) on the valid part, padding copied.
void scale(const ProcessArgs& p, const double* factor);
// out[i, a, T-L+t] = x[i, a, t] for t < L_i = T - off_i, zeros before.
void cut(const ProcessArgs& p);
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
void generate(const GenerateArgs& g, std::uintptr_t cuda_stream);
// check_alpha_values on the alpha values g.alpha points to on the device (one copy back
// on the stream, which waits for the stream's work so far); generate_cuda calls it.
void check_alpha(const GenerateArgs& g, std::uintptr_t cuda_stream);
// Bytes of scratch the FBM kernel needs for n trajectories of length T on the current
// device: a status word, plus, when the embedding does not fit in shared memory, one work
// area per resident block (0 for n == 0).
uint64_t fbm_scratch_bytes(int64_t n, int64_t T);
void gradcam(const CamArgs& c, std::uintptr_t cuda_stream);
void normalize(const ProcessArgs& p, std::uintptr_t cuda_stream);
void add_noise(const ProcessArgs& p, const double* sigma, uint64_t seed, uint64_t start,
               std::uintptr_t cuda_stream);
void scale(const ProcessArgs& p, const double* factor, std::uintptr_t cuda_stream);
void cut(const ProcessArgs& p, std::uintptr_t cuda_stream);
}  // namespace cuda
#endif

}  // namespace anomgrad
