// Warp-level building blocks of the kernels that give each lane a row (a trajectory, an
// axis of one): staging rows through shared memory so that the warp's global loads and
// stores are whole, aligned 32-byte sectors, and a warp-wide exclusive scan.
//
// A row's elements live in a ring of W = 4C columns (C = 32 / sizeof(T) elements per
// sector).  The warp works in rounds of C positions: round t0 (a multiple of C) moves, for
// every row, the sector-aligned segment [t0 - ph, t0 - ph + C) where ph is the row's
// misalignment in elements, so every warp-wide store or load covers whole sectors
// (32 / C rows per instruction) whatever T and the row's address.  Positions of a round
// are produced (or consumed) by the row's lane in [t0, t0 + C); flushing lags by ph < C,
// so a row needs at most 2C columns in flight and W = 4C leaves one __syncwarp per round
// enough (docs/emulation.md).
#pragma once
#include <cstdint>

#include "anomgrad/device.h"

namespace anomgrad::cuda {

constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ int lane_id() { return int(threadIdx.x & 31u); }

template <class T_>
struct RowRing {
  static constexpr int C = 32 / int(sizeof(T_));
  static constexpr int W = 4 * C;
  static constexpr int S = W + 1;  // row stride: odd, so the lanes of a column hit other banks
  static constexpr size_t bytes = sizeof(T_) * 32 * S;
  T_* v;
  __device__ __forceinline__ void put(int row, int64_t t, T_ x) const { v[row * S + int(t & (W - 1))] = x; }
  __device__ __forceinline__ T_ get(int row, int64_t t) const { return v[row * S + int(t & (W - 1))]; }
};

// Misalignment of a row within its 32-byte sector, in elements.
template <class T_>
__device__ __forceinline__ int row_phase(const T_* row) {
  return int((reinterpret_cast<uintptr_t>(row) / sizeof(T_)) % uintptr_t(32 / sizeof(T_)));
}

// Stores the round-t0 segment of every row r < nrows (row r starts at row0 + r * stride).
template <class T_>
__device__ void flush_rows(const RowRing<T_>& ring, T_* row0, int64_t stride, int nrows, int64_t t0,
                           int64_t T) {
  constexpr int C = RowRing<T_>::C;
  const int lane = lane_id(), c = lane % C;
  for (int r = lane / C; r < nrows; r += 32 / C) {
    T_* row = row0 + int64_t(r) * stride;
    const int64_t t = t0 - row_phase(row) + c;
    if (t >= 0 && t < T) AG_ST(row + t, ring.get(r, t));
  }
}

// Loads the round-t0 segment of every row r < nrows into the ring (flush_rows' mirror).
template <class T_>
__device__ void gather_rows(const RowRing<T_>& ring, const T_* row0, int64_t stride, int nrows,
                            int64_t t0, int64_t T) {
  constexpr int C = RowRing<T_>::C;
  const int lane = lane_id(), c = lane % C;
  for (int r = lane / C; r < nrows; r += 32 / C) {
    const T_* row = row0 + int64_t(r) * stride;
    const int64_t t = t0 - row_phase(row) + c;
    if (t >= 0 && t < T) ring.put(r, t, AG_LD(row + t));
  }
}

// Exclusive prefix sum of v over the lanes of the warp; *total = the sum of all lanes.
__device__ __forceinline__ int warp_exclusive_scan(int v, int* total) {
  const int lane = lane_id();
  int inc = v;
  for (int d = 1; d < 32; d <<= 1) {
    const int y = __shfl_up_sync(kFullMask, inc, unsigned(d));
    if (lane >= d) inc += y;
  }
  *total = __shfl_sync(kFullMask, inc, 31);
  return inc - v;
}

// The largest (*hi) and smallest (*lo) of every thread's hi and lo over a block of nt
// threads (a multiple of 32), in every thread: a butterfly over the 32 lanes of each warp,
// then the warps' results through red[2 * nt / 32] (shared).  Min and max: the same
// whatever the order the values meet in.
__device__ __forceinline__ void block_bounds(double* lo, double* hi, double* red, int nt) {
  const int tid = int(threadIdx.x);
  double h = *hi, l = *lo;
  for (int d = 16; d > 0; d >>= 1) {
    const double h2 = __shfl_xor_sync(kFullMask, h, d), l2 = __shfl_xor_sync(kFullMask, l, d);
    h = h2 > h ? h2 : h;
    l = l2 < l ? l2 : l;
  }
  if ((tid & 31) == 0) {
    red[tid >> 5] = h;
    red[nt / 32 + (tid >> 5)] = l;
  }
  __syncthreads();
  h = red[0];
  l = red[nt / 32];
  for (int w = 1; w < nt / 32; ++w) {
    h = red[w] > h ? red[w] : h;
    l = red[nt / 32 + w] < l ? red[nt / 32 + w] : l;
  }
  *hi = h;
  *lo = l;
}

}  // namespace anomgrad::cuda
