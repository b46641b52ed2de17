// Toy kernels that test the emulator itself (see selftest.h).
#include "emu/selftest.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "anomgrad/device.h"
#include "warp.cuh"

namespace {

struct Fail : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const emu::Order kOrders[] = {emu::Order::forward, emu::Order::reverse, emu::Order::shuffled};

__global__ void store_tid(float* out, int stride) { AG_ST(out + threadIdx.x * stride, float(threadIdx.x)); }

// out[t] = s[(t + 1) % n] after every thread wrote s[t] = t (with or without the barrier).
template <bool kBarrier>
__global__ void neighbour(int* out) {
  AG_SHARED(int, s, 256);
  const unsigned t = threadIdx.x, n = blockDim.x;
  s[t] = int(t) + 1;
  if (kBarrier) __syncthreads();
  AG_ST(out + blockIdx.x * n + t, s[(t + 1) % n]);
}

// The same inside one warp with __syncwarp.
template <bool kBarrier>
__global__ void warp_neighbour(int* out) {
  AG_SHARED(int, s, 64);
  const unsigned t = threadIdx.x;
  s[t] = int(t) + 1;
  if (kBarrier) __syncwarp();
  AG_ST(out + t, s[(t & ~31u) + ((t + 1) & 31u)]);
}

__global__ void divergent_barrier(int* out) {
  if (threadIdx.x < 16) __syncthreads();
  AG_ST(out + threadIdx.x, 1);
}

// lanes 0-15 wait at __syncwarp for lanes 16-31, which wait at __syncthreads
__global__ void crossed_barriers(int* out) {
  if (threadIdx.x % 32 < 16)
    __syncwarp();
  else
    __syncthreads();
  AG_ST(out + threadIdx.x, 1);
}

__global__ void exit_then_barrier(int* out) {
  if (threadIdx.x == 3) return;
  __syncthreads();
  AG_ST(out + threadIdx.x, 1);
}

__global__ void read_unwritten(double* out) {
  AG_SHARED(double, s, 32);
  AG_DYN_SHARED(double, d);
  AG_ST(out + threadIdx.x, s[threadIdx.x] + d[threadIdx.x]);
}

__global__ void big_static(double* out) {
  AG_SHARED(double, s, 6145);  // 48 KB + 8 bytes
  s[threadIdx.x] = 1.0;
  AG_ST(out + threadIdx.x, s[threadIdx.x]);
}

__global__ void dyn_user(double* out) {
  AG_DYN_SHARED(double, d);
  d[threadIdx.x] = 2.0;
  AG_ST(out + threadIdx.x, d[threadIdx.x]);
}

__global__ void loops(int* out) {
  int s = 0;
  for (unsigned k = 0; k <= threadIdx.x % 32; ++k) {
    AG_COUNT("selftest loop");
    s += int(k);
  }
  AG_ST(out + threadIdx.x, s);
}

__global__ void intrinsics(int* out) {
  const int t = int(threadIdx.x);
  const unsigned b = __ballot_sync(0xffffffffu, t % 3 == 0);
  const int up = __shfl_up_sync(0xffffffffu, t * 10, 1);
  const int idx = __shfl_sync(0xffffffffu, t * 10, 5);
  const double x = __shfl_xor_sync(0xffffffffu, double(t) + 0.5, 1);
  AG_ST(out + 4 * t, int(b));
  AG_ST(out + 4 * t + 1, up);
  AG_ST(out + 4 * t + 2, idx);
  AG_ST(out + 4 * t + 3, int(x * 2));
}

// Shuffles at the edges CUDA defines: a source lane outside [0, width) is taken modulo the
// width; __shfl_xor_sync with width < 32 reads earlier groups of width lanes, and a lane
// whose partner is in a later group keeps its own value.
__global__ void shuffle_edges(int* out) {
  const int t = int(threadIdx.x);
  AG_ST(out + 4 * t, __shfl_sync(0xffffffffu, t, -1, 8));
  AG_ST(out + 4 * t + 1, __shfl_sync(0xffffffffu, t, 37));
  AG_ST(out + 4 * t + 2, __shfl_xor_sync(0xffffffffu, t, 16, 16));
  AG_ST(out + 4 * t + 3, __shfl_xor_sync(0xffffffffu, t, 4, 8));
}

// block_bounds (warp.cuh, the FBM eigenvalue check) with thread `at` holding the smallest
// and the largest value and every other thread 0: every thread must end with both.
__global__ void bounds(double* out, int at) {
  AG_SHARED(double, red, 2 * (256 / 32));
  const int t = int(threadIdx.x);
  double lo = t == at ? -1.0 - at : 0.0, hi = t == at ? 1.0 + at : 0.0;
  anomgrad::cuda::block_bounds(&lo, &hi, red, int(blockDim.x));
  AG_ST(out + 2 * t, lo);
  AG_ST(out + 2 * t + 1, hi);
}

// The weak model: lane l stores s[l] = l + 1, then the lanes meet at `how` (0 a vote,
// 1 a shuffle, 2 __syncwarp, 3 a vote after the lane's own __threadfence) and read their
// own and their neighbour's entry; c counts the lanes by an atomic, read after the vote.
__global__ void weak_memory(int* out, int how) {
  AG_SHARED(int, s, 33);
  const unsigned t = threadIdx.x;
  if (t == 0) s[32] = 0;
  __syncwarp();
  s[t] = int(t) + 1;
  atomicAdd(&s[32], 1);
  if (how == 3) __threadfence();
  if (how == 0 || how == 3) (void)__ballot_sync(0xffffffffu, 1);
  if (how == 1) (void)__shfl_sync(0xffffffffu, int(t), 0);
  if (how == 2) __syncwarp();
  AG_ST(out + 3 * t, s[t]);
  AG_ST(out + 3 * t + 1, s[(t + 1) & 31u]);
  AG_ST(out + 3 * t + 2, s[32]);
}

void expect_launch_error(cudaError_t want, const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != want)
    throw Fail(std::string(what) + ": expected error " + std::to_string(int(want)) + ", got " +
               std::to_string(int(e)) + " (" + cudaGetErrorString(e) + ")");
}
void expect_ok(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw Fail(std::string(what) + ": unexpected error " + cudaGetErrorString(e));
}

template <class F>
std::string expect_kernel_error(F f, const char* contains) {
  try {
    f();
  } catch (const emu::KernelError& e) {
    if (!std::strstr(e.what(), contains))
      throw Fail(std::string("kernel error without '") + contains + "': " + e.what());
    return e.what();
  }
  throw Fail(std::string("no kernel error (expected '") + contains + "')");
}

const emu::KernelStats& only_stats() {
  if (emu::stats().size() != 1) throw Fail("expected one kernel in the statistics");
  return emu::stats()[0];
}

}  // namespace

std::string emu_selftest(const std::string& name) {
  std::vector<float> f(32 * 1024 + 64, 0.0f);
  std::vector<int> out(4096, 0);
  std::vector<double> d(4096, 0.0);
  if (name == "launch_limits") {
    AG_LAUNCH(store_tid, 1, 1025, 0, nullptr, f.data(), 1);
    expect_launch_error(cudaErrorInvalidConfiguration, "1025 threads");
    AG_LAUNCH(store_tid, dim3(1, 65536), 32, 0, nullptr, f.data(), 1);
    expect_launch_error(cudaErrorInvalidConfiguration, "grid.y = 65536");
    AG_LAUNCH(store_tid, 0, 32, 0, nullptr, f.data(), 1);
    expect_launch_error(cudaErrorInvalidConfiguration, "empty grid");
    AG_LAUNCH(store_tid, 1, dim3(2, 2, 65), 0, nullptr, f.data(), 1);
    expect_launch_error(cudaErrorInvalidConfiguration, "block.z = 65");
    AG_LAUNCH(store_tid, 1, 1024, 0, nullptr, f.data(), 1);
    expect_ok("1024 threads");
    return "";
  }
  if (name == "dynamic_smem_limits") {
    AG_LAUNCH(dyn_user, 1, 32, 48 * 1024 + 8, nullptr, d.data());
    expect_launch_error(cudaErrorInvalidValue, "48 KB + 8 without the attribute");
    AG_LAUNCH(dyn_user, 1, 32, 48 * 1024, nullptr, d.data());
    expect_ok("48 KB");
    cudaFuncSetAttribute(dyn_user, cudaFuncAttributeMaxDynamicSharedMemorySize, 100000);
    AG_LAUNCH(dyn_user, 1, 32, 100000, nullptr, d.data());
    expect_ok("100000 bytes with the attribute");
    AG_LAUNCH(dyn_user, 1, 32, 100001, nullptr, d.data());
    expect_launch_error(cudaErrorInvalidValue, "above the attribute");
    cudaFuncSetAttribute(dyn_user, cudaFuncAttributeMaxDynamicSharedMemorySize, 232449);
    expect_launch_error(cudaErrorInvalidValue, "attribute above the opt-in maximum");
    AG_LAUNCH(dyn_user, 1, 32, 232449, nullptr, d.data());
    expect_launch_error(cudaErrorInvalidValue, "above the opt-in maximum");
    return "";
  }
  if (name == "static_smem_limit")
    return expect_kernel_error([&] { AG_LAUNCH(big_static, 1, 32, 0, nullptr, d.data()); }, "48 KB");
  if (name == "barrier_orders") {
    // with the barrier: every order gives the right answer; without: some order does not
    bool missed = false;
    for (emu::Order o : kOrders) {
      emu::set_order(o, 7);
      AG_LAUNCH(neighbour<true>, 3, 96, 0, nullptr, out.data());
      for (int b = 0; b < 3; ++b)
        for (int t = 0; t < 96; ++t)
          if (out[size_t(b * 96 + t)] != (t + 1) % 96 + 1) throw Fail("wrong result with the barrier");
      AG_LAUNCH(neighbour<false>, 3, 96, 0, nullptr, out.data());
      for (int t = 0; t < 3 * 96; ++t)
        if (out[size_t(t)] != (t % 96 + 1) % 96 + 1) missed = true;
      emu::set_order(o, 7);
      AG_LAUNCH(warp_neighbour<true>, 1, 64, 0, nullptr, out.data());
      for (int t = 0; t < 64; ++t)
        if (out[size_t(t)] != (t & ~31) + ((t + 1) & 31) + 1) throw Fail("wrong result with __syncwarp");
    }
    emu::set_order(emu::Order::forward);
    if (!missed) throw Fail("removing the barrier changed nothing in any order");
    bool wmissed = false;
    for (emu::Order o : kOrders) {
      emu::set_order(o, 7);
      AG_LAUNCH(warp_neighbour<false>, 1, 64, 0, nullptr, out.data());
      for (int t = 0; t < 64; ++t)
        if (out[size_t(t)] != (t & ~31) + ((t + 1) & 31) + 1) wmissed = true;
    }
    emu::set_order(emu::Order::forward);
    if (!wmissed) throw Fail("removing the __syncwarp changed nothing in any order");
    return "";
  }
  if (name == "divergent_barrier")
    return expect_kernel_error([&] { AG_LAUNCH(divergent_barrier, 1, 64, 0, nullptr, out.data()); },
                               "reached by 16 thread(s) while 48 have exited");
  if (name == "deadlock")
    return expect_kernel_error([&] { AG_LAUNCH(crossed_barriers, 1, 64, 0, nullptr, out.data()); },
                               "deadlock");
  if (name == "exited_barrier")
    return expect_kernel_error([&] { AG_LAUNCH(exit_then_barrier, 1, 64, 0, nullptr, out.data()); },
                               "exited");
  if (name == "poisoned_smem") {
    AG_LAUNCH(read_unwritten, 1, 32, 32 * sizeof(double), nullptr, d.data());
    expect_ok("read_unwritten");
    for (int t = 0; t < 32; ++t)
      if (!std::isnan(d[size_t(t)])) throw Fail("shared memory was not poisoned with NaN");
    return "";
  }
  if (name == "intrinsics") {
    for (emu::Order o : kOrders) {
      emu::set_order(o, 3);
      AG_LAUNCH(intrinsics, 1, 64, 0, nullptr, out.data());
      for (int t = 0; t < 64; ++t) {
        const int l = t % 32, w = t / 32;
        unsigned ballot = 0;
        for (int k = 0; k < 32; ++k)
          if ((w * 32 + k) % 3 == 0) ballot |= 1u << k;
        const int want[4] = {int(ballot), (l >= 1 ? t - 1 : t) * 10, (w * 32 + 5) * 10,
                             int(((t ^ 1) + 0.5) * 2)};
        for (int q = 0; q < 4; ++q)
          if (out[size_t(4 * t + q)] != want[q])
            throw Fail("intrinsic " + std::to_string(q) + " of thread " + std::to_string(t) + " is " +
                       std::to_string(out[size_t(4 * t + q)]) + ", want " + std::to_string(want[q]));
      }
    }
    emu::set_order(emu::Order::forward);
    return "";
  }
  if (name == "shuffle_edges") {
    AG_LAUNCH(shuffle_edges, 1, 64, 0, nullptr, out.data());
    for (int t = 0; t < 64; ++t) {
      const int l = t % 32, w = t / 32;
      const int partner16 = l ^ 16, partner4 = l ^ 4;
      const int want[4] = {w * 32 + (l / 8) * 8 + 7, w * 32 + 5,
                           partner16 / 16 > l / 16 ? t : w * 32 + partner16,
                           partner4 / 8 > l / 8 ? t : w * 32 + partner4};
      for (int q = 0; q < 4; ++q)
        if (out[size_t(4 * t + q)] != want[q])
          throw Fail("shuffle " + std::to_string(q) + " of thread " + std::to_string(t) + " is " +
                     std::to_string(out[size_t(4 * t + q)]) + ", want " + std::to_string(want[q]));
    }
    return "";
  }
  if (name == "resources") {
    // registers and launch bounds as ptxas would report them: occupancy and launch follow
    int b = -1;
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, store_tid, 256, 0);
    if (b != 4) throw Fail("assumed 64 registers, 256 threads: " + std::to_string(b) + " blocks, want 4");
    emu::set_resources(reinterpret_cast<const void*>(store_tid), emu::Resources{72, 128, true});
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, store_tid, 128, 0);
    // 72 registers: 2304 per warp, 28 warps of an SM's 65536, 7 blocks of 4 warps
    if (b != 7) throw Fail("72 registers, 128 threads: " + std::to_string(b) + " blocks, want 7");
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, store_tid, 256, 0);
    if (b != 0) throw Fail("256 threads above a launch bound of 128: " + std::to_string(b) + " blocks");
    AG_LAUNCH(store_tid, 1, 128, 0, nullptr, f.data(), 1);
    expect_ok("128 threads within the launch bound");
    AG_LAUNCH(store_tid, 1, 256, 0, nullptr, f.data(), 1);
    expect_launch_error(cudaErrorLaunchOutOfResources, "256 threads above the launch bound");
    emu::set_resources(reinterpret_cast<const void*>(store_tid), emu::Resources{255, 0, true});
    AG_LAUNCH(store_tid, 1, 1024, 0, nullptr, f.data(), 1);
    expect_launch_error(cudaErrorLaunchOutOfResources, "1024 threads of 255 registers");
    AG_LAUNCH(store_tid, 1, 256, 0, nullptr, f.data(), 1);
    expect_ok("256 threads of 255 registers");
    emu::set_resources(reinterpret_cast<const void*>(store_tid), emu::Resources{64, 0, false});
    return "";
  }
  if (name == "weak_memory") {
    // weak: a vote or a shuffle leaves the neighbour's store unseen (the 0xFF poison, -1);
    // __syncwarp and __threadfence make it seen; one's own store and the atomic count
    // are seen throughout.  Not weak: every synchronisation point publishes.
    struct Off {  // the default model again, whatever happens
      ~Off() { emu::set_weak(false); }
    } off;
    for (int weak = 1; weak >= 0; --weak) {
      emu::set_weak(weak != 0);
      for (int how = 0; how < 4; ++how)
        for (emu::Order o : kOrders) {
          emu::set_order(o, 5);
          AG_LAUNCH(weak_memory, 1, 32, 0, nullptr, out.data(), how);
          expect_ok("weak_memory");
          for (int t = 0; t < 32; ++t) {
            const int seen = weak && how < 2 ? -1 : (t + 1) % 32 + 1;
            const int want[3] = {t + 1, seen, 32};
            for (int q = 0; q < 3; ++q)
              if (out[size_t(3 * t + q)] != want[q])
                throw Fail(std::string(weak ? "weak" : "strong") + " model, meeting " + std::to_string(how) +
                           ", value " + std::to_string(q) + " of lane " + std::to_string(t) + ": " +
                           std::to_string(out[size_t(3 * t + q)]) + ", want " + std::to_string(want[q]));
          }
        }
    }
    emu::set_order(emu::Order::forward);
    return "";
  }
  if (name == "block_bounds") {
    for (int at = 0; at < 256; ++at) {
      AG_LAUNCH(bounds, 1, 256, 0, nullptr, d.data(), at);
      expect_ok("block_bounds");
      for (int t = 0; t < 256; ++t)
        if (d[size_t(2 * t)] != -1.0 - at || d[size_t(2 * t + 1)] != 1.0 + at)
          throw Fail("block_bounds with the extremes in thread " + std::to_string(at) + ": thread " +
                     std::to_string(t) + " has [" + std::to_string(d[size_t(2 * t)]) + ", " +
                     std::to_string(d[size_t(2 * t + 1)]) + "]");
    }
    return "";
  }
  if (name == "cost_model") {
    emu::set_recording(true);
    struct Off {
      ~Off() { emu::set_recording(false); }
    } off;
    auto eff = [](const emu::MemStats& m) { return double(m.useful) / (32.0 * double(m.sectors)); };
    emu::reset_stats();
    AG_LAUNCH(store_tid, 2, 256, 0, nullptr, f.data(), 1);
    const emu::KernelStats& a = only_stats();
    if (a.store.instructions != 16 || a.store.sectors != 16 * 4 || eff(a.store) != 1.0)
      throw Fail("coalesced float stores: " + std::to_string(a.store.instructions) + " instructions, " +
                 std::to_string(a.store.sectors) + " sectors");
    emu::reset_stats();
    AG_LAUNCH(store_tid, 1, 64, 0, nullptr, f.data(), 32);
    const emu::KernelStats& b = only_stats();
    if (b.store.instructions != 2 || b.store.sectors != 64 || eff(b.store) != 0.125)
      throw Fail("strided float stores: " + std::to_string(b.store.sectors) + " sectors");
    emu::reset_stats();
    AG_LAUNCH(loops, 1, 64, 0, nullptr, out.data());
    const emu::KernelStats& c = only_stats();
    // lane l runs l + 1 iterations: warp 32, mean 16.5 per warp
    if (c.div.warp_iters != 64 || c.div.thread_iters != 33.0)
      throw Fail("divergence: warp " + std::to_string(c.div.warp_iters) + ", threads " +
                 std::to_string(c.div.thread_iters));
    emu::reset_stats();
    return "";
  }
  throw Fail("unknown selftest " + name);
}
