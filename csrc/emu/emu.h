// The CUDA emulator: csrc/cuda/*.cu compiled by the host compiler and run on the CPU.
//
// This header is what a kernel sees instead of the CUDA toolkit when the emulation
// build (AG_EMULATION, csrc/emu/CMakeLists.txt) compiles csrc/cuda/*.cu as C++: the
// language surface (__global__, threadIdx, __syncthreads, warp votes and shuffles,
// atomics), the part of the runtime API the launchers call (attributes, occupancy,
// memset/memcpy, errors) and a launch that runs every block of the grid on fibers,
// one fiber per CUDA thread, switched at barriers.  docs/emulation.md has the design.
//
// What a real launch would reject is rejected here too, with the same error code and a
// message naming the limit: block and grid dimensions, kernel parameter size, dynamic
// shared memory above 48 KB without cudaFuncAttributeMaxDynamicSharedMemorySize, above
// the opt-in maximum at all, static shared memory above 48 KB.  Shared memory (static
// and dynamic) is allocated per block with its exact size and filled with 0xFF bytes
// (a NaN as float and as double, -1 as an integer), so a read before a write shows.
// Each block's threads run in a configurable order (forward, reverse, shuffled), so a
// missing barrier changes the result; barriers reached from different call sites, by a
// subset of the threads, or never, are errors.
//
// The cost model: global loads and stores that go through AG_LD / AG_ST
// (anomgrad/device.h) and loop bodies marked AG_COUNT are recorded per thread; at the
// end of a block the records of a warp's 32 lanes are matched (the k-th execution of a
// site after the same number of lock-step points) into warp-wide instructions, which
// give 32-byte sectors against useful bytes, and warp iterations against the mean
// per-thread iterations (divergence).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#if !defined(AG_EMULATION)
#error "csrc/emu/emu.h is only for the emulation build (AG_EMULATION)"
#endif

// ---- CUDA language surface ----------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
// A raw __shared__ declaration cannot be emulated per block: kernels use AG_SHARED /
// AG_DYN_SHARED (anomgrad/device.h).  This makes a raw one a compile error.
#define __shared__ AG_EMU_use_AG_SHARED_instead_of_raw___shared__

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// ---- runtime API types ---------------------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevice = 101,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchFailure = 719,
};
using cudaError = cudaError_t;
enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrMaxThreadsPerMultiProcessor = 39,
  cudaDevAttrMaxSharedMemoryPerMultiprocessor = 81,
  cudaDevAttrMaxRegistersPerMultiprocessor = 82,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
  cudaDevAttrMaxBlocksPerMultiprocessor = 106,
};
enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
struct CUstream_st;
using cudaStream_t = CUstream_st*;

namespace emu {

// ---- configuration of the emulated device and of the runs ----------------------------
enum class Order { forward, reverse, shuffled };

struct Device {
  const char* name = "emulated sm_90 (H100/H200 limits)";
  int sms = 132;
  int max_threads_per_block = 1024;
  int max_threads_per_sm = 2048;
  int max_blocks_per_sm = 32;
  int regs_per_sm = 65536;
  int assumed_regs_per_thread = 64;  // for a kernel ptxas did not report (AG_EMU_PTXAS)
  int reg_alloc_unit = 256;          // registers are allocated per warp in these units
  size_t smem_default = 48 * 1024;   // static, and dynamic without the attribute
  size_t smem_optin = 232448;        // 227 KB: cudaDevAttrMaxSharedMemoryPerBlockOptin
  size_t smem_per_sm = 233472;       // 228 KB
  size_t smem_reserved_per_block = 1024;
  size_t max_param_bytes = 4096;
};

Device& device();  // mutable: tests shrink the SM count to exercise grid-stride loops
void set_order(Order o, uint64_t shuffle_seed = 0);
Order order();
void set_recording(bool on);  // the cost model (slower); off by default
extern bool g_recording;
inline bool recording() { return g_recording; }
// The weak model of shared memory (docs/emulation.md): a thread's stores reach the other
// threads only at a __syncthreads or __syncwarp both pass, or its own __threadfence;
// votes and shuffles order nothing.  Atomics are seen at once.  Off: every store is seen
// at the next synchronisation point of any kind.
void set_weak(bool on);

// ---- sites (one per AG_LD / AG_ST / AG_COUNT expansion) ------------------------------
enum class Kind : uint8_t { load = 0, store = 1, count = 2, shared = 3 };
struct Site {
  const char* file;
  int line;
  const char* what;
  Kind kind;
  int id;
  Site(const char* f, int l, const char* w, Kind k);
};

// ---- per-launch statistics of the cost model ------------------------------------------
struct MemStats {
  uint64_t instructions = 0;  // warp-wide instructions
  uint64_t sectors = 0;       // 32-byte sectors they touch
  uint64_t useful = 0;        // distinct bytes they access
};
struct DivStats {
  uint64_t warp_iters = 0;    // lock-step iterations of the warps
  double thread_iters = 0.0;  // sum over warps of the mean per-lane iterations
};
struct SiteStats {
  const Site* site;
  MemStats mem;
  DivStats div;
};
struct KernelStats {
  std::string name;
  uint64_t launches = 0, blocks = 0, threads = 0;
  dim3 grid, block;
  size_t dyn_smem = 0, static_smem = 0;
  int registers = 0;           // per thread, as the launch and the occupancy queries used them
  bool from_ptxas = false;     // registers (and launch bound) from ptxas, not assumed
  int max_threads = 0;         // the kernel's __launch_bounds__, 0 for none or unknown
  MemStats load, store;
  DivStats div;
  std::vector<SiteStats> sites;
};
// Statistics of every launch since the last reset, in launch order of first appearance.
std::vector<KernelStats>& stats();
void reset_stats();

// ---- errors ---------------------------------------------------------------------------
// A kernel defect found while running (barrier misuse, deadlock, an exception in a
// thread): thrown out of the launch.
struct KernelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
void set_last_error(cudaError_t e, const std::string& message);

// ---- the per-thread view ---------------------------------------------------------------
struct Fiber;
extern thread_local Fiber* tl_fiber;  // the CUDA thread running now (null on the host)
extern thread_local uint3* tl_thread_idx;
extern thread_local uint3 tl_block_idx;
extern thread_local dim3 tl_block_dim, tl_grid_dim;
inline uint3& thread_idx() { return *tl_thread_idx; }
inline uint3& block_idx() { return tl_block_idx; }
inline dim3& block_dim() { return tl_block_dim; }
inline dim3& grid_dim() { return tl_grid_dim; }

// ---- shared memory ----------------------------------------------------------------------
void* static_shared(const Site* site, size_t bytes, size_t align);
void* dynamic_shared();

// ---- barriers and warp-synchronous operations -----------------------------------------
void syncthreads(const char* file, int line);
void syncwarp(const char* file, int line, unsigned mask = 0xffffffffu);
// Exchange one 8-byte value per lane at a warp-synchronous point; returns the values of
// all lanes (index = lane) of this exchange.
const uint64_t* warp_exchange(const char* what, unsigned mask, uint64_t mine);
unsigned lane_id();
// A shuffle's width that is not a power of two in [1, 32] (undefined in CUDA): a KernelError.
[[noreturn]] void fail_width(const char* what, int width);

// ---- recording hooks (anomgrad/device.h) -------------------------------------------------
void record(const Site* site, const void* addr, unsigned bytes);
inline void count(const Site* site) {
  if (tl_fiber && recording()) record(site, nullptr, 0);
}
void converge();
// An atomic's store is seen by every thread at once (the weak model).
void atomic_stored(const void* p, size_t bytes);
// __threadfence: this thread's stores are seen from here on (the weak model).
void thread_fence();

template <class T>
inline T ld(const T* p, const Site* site) {
  if (tl_fiber && recording()) record(site, p, sizeof(T));
  return *p;
}
template <class T, class V>
inline void st(T* p, V v, const Site* site) {
  if (tl_fiber && recording()) record(site, p, sizeof(T));
  *p = v;
}

// ---- launch -------------------------------------------------------------------------------
struct LaunchConfig {
  const char* name;
  const void* fn;
  dim3 grid, block;
  size_t dyn_smem;
  size_t param_bytes;
};
// Runs body() once per CUDA thread of every block; returns false (and sets the last
// error) when the configuration would not launch.
bool run_launch(const LaunchConfig& cfg, void (*body)(void*), void* ctx);

template <class... P, class... A>
void launch(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, size_t smem,
            cudaStream_t, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong argument count");
  using Params = std::tuple<std::decay_t<P>...>;
  struct Ctx {
    void (*kernel)(P...);
    Params params;
  } ctx{kernel, Params(std::forward<A>(args)...)};
  auto body = [](void* c) {
    Ctx* x = static_cast<Ctx*>(c);
    Params copy = x->params;  // every thread gets its own copy of the parameters
    std::apply(x->kernel, copy);
  };
  run_launch(LaunchConfig{name, reinterpret_cast<const void*>(kernel), grid, block, smem,
                          sizeof(Params)},
             body, &ctx);
}

// Attributes set with cudaFuncSetAttribute, per kernel.
cudaError_t set_func_attribute(const void* fn, cudaFuncAttribute attr, int value);

// A kernel's registers per thread and launch bound (max_threads, 0 for none): from the
// ptxas report named by AG_EMU_PTXAS (tests/emulation/emu.py writes it where nvcc is
// found; a kernel is matched by its mangled name), else the assumed 64 and no bound.
struct Resources {
  int registers;
  int max_threads;
  bool from_ptxas;
};
Resources resources(const void* fn);
void set_resources(const void* fn, const Resources& r);  // for the selftest

}  // namespace emu

#define threadIdx (::emu::thread_idx())
#define blockIdx (::emu::block_idx())
#define blockDim (::emu::block_dim())
#define gridDim (::emu::grid_dim())
#define warpSize 32
#define __syncthreads() ::emu::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) ::emu::syncwarp(__FILE__, __LINE__ __VA_OPT__(, ) __VA_ARGS__)

// ---- warp intrinsics (lock-step across the lanes of a warp) ------------------------------
inline unsigned __ballot_sync(unsigned mask, int pred) {
  const uint64_t* v = ::emu::warp_exchange("__ballot_sync", mask, pred != 0);
  unsigned r = 0;
  for (int l = 0; l < 32; ++l)
    if (((mask >> l) & 1u) && v[l]) r |= 1u << l;
  return r;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }
namespace emu {
template <class T>
inline uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle type");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof v);
  return b;
}
template <class T>
inline T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}
template <class T>
inline T shfl(const char* what, unsigned mask, T v, int src_of_lane(int lane, int arg, int width),
              int arg, int width) {
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) fail_width(what, width);
  const uint64_t* all = warp_exchange(what, mask, to_bits(v));
  return from_bits<T>(all[src_of_lane(int(lane_id()), arg, width)]);
}
// Source lanes as CUDA defines them (width a power of two up to 32, checked in shfl):
// __shfl_sync takes src modulo the width (any int, negative too); up and down stay in the
// caller's group of width lanes; xor may read an earlier group, never a later one.
inline int src_idx(int lane, int src, int width) { return (lane / width) * width + (src & (width - 1)); }
inline int src_up(int lane, int d, int width) { return lane % width >= d ? lane - d : lane; }
inline int src_down(int lane, int d, int width) { return lane % width + d < width ? lane + d : lane; }
inline int src_xor(int lane, int m, int width) {
  const unsigned s = unsigned(lane ^ m), last = unsigned((lane / width) * width + width - 1);
  return s <= last ? int(s) : lane;
}
}  // namespace emu
template <class T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  return ::emu::shfl("__shfl_sync", mask, v, ::emu::src_idx, src, width);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned d, int width = 32) {
  return ::emu::shfl("__shfl_up_sync", mask, v, ::emu::src_up, int(d), width);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32) {
  return ::emu::shfl("__shfl_down_sync", mask, v, ::emu::src_down, int(d), width);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int m, int width = 32) {
  return ::emu::shfl("__shfl_xor_sync", mask, v, ::emu::src_xor, m, width);
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline unsigned __brev(unsigned x) {  // bit 31 - i of the result is bit i of x
  unsigned r = 0;
  for (int b = 0; b < 32; ++b) r |= ((x >> b) & 1u) << (31 - b);
  return r;
}
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }

// Fibers of one block never run at the same time, so atomics are plain read-modify-writes
// whose store every thread sees at once (emu::atomic_stored).
template <class T>
inline T atomicCAS(T* p, T compare, T val) {
  const T old = *p;
  if (old == compare) *p = val;
  ::emu::atomic_stored(p, sizeof(T));
  return old;
}
template <class T>
inline T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  ::emu::atomic_stored(p, sizeof(T));
  return old;
}
template <class T>
inline T atomicMax(T* p, T v) {
  const T old = *p;
  if (v > old) *p = v;
  ::emu::atomic_stored(p, sizeof(T));
  return old;
}
template <class T>
inline T atomicOr(T* p, T v) {
  const T old = *p;
  *p = old | v;
  ::emu::atomic_stored(p, sizeof(T));
  return old;
}
inline void __threadfence() { ::emu::thread_fence(); }

// ---- runtime API ----------------------------------------------------------------------------
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetDeviceCount(int* n);
cudaError_t cudaGetDevice(int* dev);
cudaError_t cudaSetDevice(int dev);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int dev);
template <class F>
inline cudaError_t cudaFuncSetAttribute(F* fn, cudaFuncAttribute attr, int value) {
  return ::emu::set_func_attribute(reinterpret_cast<const void*>(fn), attr, value);
}
cudaError_t emu_occupancy(int* blocks, const void* fn, int block_size, size_t dyn_smem);
template <class F>
inline cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, F* fn, int block_size,
                                                                 size_t dyn_smem) {
  return emu_occupancy(blocks, reinterpret_cast<const void*>(fn), block_size, dyn_smem);
}
cudaError_t cudaMallocAsync(void** p, size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaFreeAsync(void* p, cudaStream_t s = nullptr);
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t s = nullptr);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaDeviceSynchronize();
