// CUDA twin of csrc/cpu/generate.cpp: the same trajectories to the bit (docs/rng.md),
// laid out for the memory system (docs/emulation.md has the design and its measured cost).
//
// BM, SBM     one lane per trajectory runs the host loop; positions go through a
//             shared-memory ring so the warp stores whole 32-byte sectors (warp.cuh).
//             SBM's scale is computed once per step for all axes, and once per warp when
//             alpha is one value.
// CTRW, LW,   one lane per trajectory replays the host loop (the same sums in the same
// ATTM        order) from a buffer of its next events in shared memory; the warp draws the
//             events -- the expensive part: Philox, logarithms, exponentials, normals --
//             together, four per Philox block, whenever a lane's buffer does not cover the
//             next round of positions, so no lane idles while another draws.
// FBM         one block per trajectory: spectrum (one Philox block per four normals), a
//             radix-2 FFT with shift/mask indices in __shared__ memory (a global work area
//             from the caller when the embedding does not fit), the host's prefix sum in
//             the host's order, coalesced stores.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "anomgrad/device.h"
#include "anomgrad/fbm.h"
#include "anomgrad/kernels.h"
#include "anomgrad/models.h"
#include "args.cuh"
#include "check.cuh"
#include "warp.cuh"

namespace anomgrad::cuda {

namespace {

constexpr int kWarps = 2;  // warps per block of the trajectory kernels
constexpr int kTrajThreads = 32 * kWarps;
// Buffered events per lane (groups of four) and the free slots from which a lane takes part
// in a refill that another lane triggered.  Measured with bench/emulation_cost.py
// (docs/emulation.md): 24 and 4 give the fewest warp passes per used event (CTRW, one alpha
// per trajectory: 16 -> 2.07 divergence, 87 % of draws used; 24 -> 1.39, 81 %; 32 -> 1.26,
// 75 %); -DAG_EVENT_BUFFER / -DAG_TOP_UP override them for such experiments.
#ifndef AG_EVENT_BUFFER
#define AG_EVENT_BUFFER 24
#endif
#ifndef AG_TOP_UP
#define AG_TOP_UP 4
#endif
constexpr int kBuf = AG_EVENT_BUFFER;
constexpr int kTopUp = AG_TOP_UP;
constexpr int kFbmThreads = 256;

// ---- shared memory of one warp of the trajectory kernels --------------------------------------

struct WarpLayout {
  size_t key, val, prm, tab, ring, ints, total;
};

// key[32][kBuf], val[32][kBuf][nval]: the lanes' event buffers (CTRW: grid index and jump,
// LW: steps and velocity, ATTM: steps and sqrt(2 D)); prm[2][32]: per-lane parameters the
// drawing lanes need; tab[32]: SBM's shared scale; one ring per axis; ints[4][32].
template <class Out>
__host__ __device__ inline WarpLayout warp_layout(int model, int dim) {
  WarpLayout l{};
  const bool events = model == CTRW || model == LW || model == ATTM;
  const size_t nval = model == ATTM ? 1 : size_t(dim);
  size_t o = 0;
  l.key = o;
  o += events ? sizeof(double) * 32 * kBuf : 0;
  l.val = o;
  o += events ? sizeof(double) * 32 * kBuf * nval : 0;
  l.prm = o;
  o += sizeof(double) * 2 * 32;
  l.tab = o;
  o += sizeof(double) * 32;
  l.ring = o;
  o += RowRing<Out>::bytes * size_t(dim);
  o = (o + 15) / 16 * 16;
  l.ints = o;
  o += sizeof(int) * 4 * 32;
  l.total = (o + 15) / 16 * 16;
  return l;
}

template <class Out_, int Model_, int Dim_>
struct TrajSpec {
  using Out = Out_;
  static constexpr int model = Model_;
  static constexpr int dim = Dim_;  // a constant: the per-axis arrays stay in registers
};

// ---- BM and SBM ---------------------------------------------------------------------------------

template <class Out, int Model, int dim>
__device__ void walk_warp(const GenerateArgs& g, const WarpLayout& L, unsigned char* mine, int64_t w0) {
  constexpr int C = RowRing<Out>::C;
  const int lane = lane_id();
  const int64_t T = g.T, i = w0 + lane;
  const int nrows = g.n - w0 < 32 ? int(g.n - w0) : 32;
  const bool on = lane < nrows;
  const uint64_t traj = g.start + uint64_t(i);
  const bool shared_scale = Model == SBM && !g.alpha_per_traj;
  // every lane computes part of the shared scale table, idle lanes too: all need alpha
  const double alpha = on || shared_scale ? AG_LD(g.alpha + (g.alpha_per_traj ? i : 0)) : 1.0;
  double* tab = reinterpret_cast<double*>(mine + L.tab);
  RowRing<Out> ring[3];
  for (int a = 0; a < dim; ++a)
    ring[a].v = reinterpret_cast<Out*>(mine + L.ring) + size_t(a) * 32 * RowRing<Out>::S;
  NormalStream n0(g.seed, traj, STREAM_AXIS), n1(g.seed, traj, STREAM_AXIS + 1),
      n2(g.seed, traj, STREAM_AXIS + 2);
  double acc[3] = {0.0, 0.0, 0.0};
  Out* out = static_cast<Out*>(g.out) + w0 * dim * T;
  for (int64_t t0 = 0; t0 < T + C; t0 += C) {  // the last round only stores
    AG_CONVERGE();
    if (t0 < T) {
      if (shared_scale) {  // one alpha: the warp computes sbm_scale once per step
        if (lane < C && t0 + lane >= 1 && t0 + lane < T) tab[lane] = sbm_scale(alpha, t0 + lane);
        __syncwarp();
      }
      if (on) {
        for (int c = 0; c < C && t0 + c < T; ++c) {
          const int64_t t = t0 + c;
          if (t == 0) {
            for (int a = 0; a < dim; ++a) ring[a].put(lane, 0, Out(0));
            continue;
          }
          double sc = 1.0;  // sbm_scale(alpha, t): once per step for every axis
          if (Model == SBM) sc = shared_scale ? tab[c] : sbm_scale(alpha, t);
          for (int a = 0; a < dim; ++a) {
            NormalStream& ns = a == 0 ? n0 : (a == 1 ? n1 : n2);
            double z = ns.at(uint64_t(t - 1));
            if (Model == SBM) z *= sc;
            acc[a] += z;
            ring[a].put(lane, t, Out(acc[a]));
          }
        }
      }
    }
    __syncwarp();
    for (int a = 0; a < dim; ++a) flush_rows(ring[a], out + int64_t(a) * T, int64_t(dim) * T, nrows, t0, T);
  }
}

// ---- CTRW, LW, ATTM -------------------------------------------------------------------------------

// Draws events 4q .. 4q+3 of one trajectory into its buffer at slots slot0 .. slot0+3.
template <int Model, int dim>
__device__ void draw_group(const GenerateArgs& g, uint64_t traj, uint32_t q, double p0, double p1,
                           double* key, double* val, int slot0) {
  if (Model == CTRW) {  // p0 = 1 / alpha
    const Words w = philox_block(g.seed, traj, STREAM_EVENTS, q);
    double z[4][3];
    jumps_group(g.seed, traj, dim, q, 1.0, z);
    for (int j = 0; j < 4; ++j) {
      const int s = (slot0 + j) % kBuf;
      key[s] = power_law(w.w[j], p0);  // the waiting time; the owner turns it into a grid index
      for (int a = 0; a < dim; ++a) val[s * dim + a] = z[j][a];
    }
  } else if (Model == LW) {  // p0 = 1 / sigma, p1 = v
    const Words wd = philox_block(g.seed, traj, STREAM_EVENTS, q);
    double d[4][3];
    if (dim == 3) {
      double g0[4], g1[4], g2[4];
      normals_group(g.seed, traj, STREAM_AXIS, q, g0);
      normals_group(g.seed, traj, STREAM_AXIS + 1, q, g1);
      normals_group(g.seed, traj, STREAM_AXIS + 2, q, g2);
      for (int j = 0; j < 4; ++j) lw_direction_3(p1, g0[j], g1[j], g2[j], d[j]);
    } else {
      const Words wr = philox_block(g.seed, traj, STREAM_DIRECTIONS, q);
      for (int j = 0; j < 4; ++j) lw_direction_12(dim, p1, wr.w[j], d[j]);
    }
    for (int j = 0; j < 4; ++j) {
      const int s = (slot0 + j) % kBuf;
      key[s] = double(lw_steps(power_law(wd.w[j], p0), g.T));
      for (int a = 0; a < dim; ++a) val[s * dim + a] = d[j][a];
    }
  } else {  // ATTM: p0 = 1 / sigma, p1 = 1 / alpha
    const Words w = philox_block(g.seed, traj, STREAM_EVENTS, q);
    for (int j = 0; j < 4; ++j) {
      const int s = (slot0 + j) % kBuf;
      double r;
      int64_t steps;
      attm_segment(w.w[j], p0, p1, double(g.T), g.T, &r, &steps);
      key[s] = double(steps);
      val[s] = r;
    }
  }
}

template <class Out, int Model, int dim>
__device__ void events_warp(const GenerateArgs& g, const WarpLayout& L, unsigned char* mine, int64_t w0) {
  constexpr int C = RowRing<Out>::C;
  const int lane = lane_id();
  const int64_t T = g.T, i = w0 + lane;
  const int nrows = g.n - w0 < 32 ? int(g.n - w0) : 32;
  const bool on = lane < nrows;
  const uint64_t traj = g.start + uint64_t(i);
  const int nval = Model == ATTM ? 1 : dim;
  double* key = reinterpret_cast<double*>(mine + L.key);
  double* val = reinterpret_cast<double*>(mine + L.val);
  double* prm = reinterpret_cast<double*>(mine + L.prm);
  int* pre = reinterpret_cast<int*>(mine + L.ints);
  int* nextg = pre + 32;
  int* tail = pre + 64;
  RowRing<Out> ring[3];
  for (int a = 0; a < dim; ++a)
    ring[a].v = reinterpret_cast<Out*>(mine + L.ring) + size_t(a) * 32 * RowRing<Out>::S;
  double* mykey = key + lane * kBuf;
  double* myval = val + lane * kBuf * nval;

  const double alpha = on ? AG_LD(g.alpha + (g.alpha_per_traj ? i : 0)) : 1.0;
  double p0 = 0.0, p1 = 0.0;  // what the drawing lanes need of this trajectory
  if (on) {
    if (Model == CTRW) p0 = 1.0 / alpha;
    if (Model == LW) lw_params(g.seed, traj, alpha, &p1, &p0);
    if (Model == ATTM) {
      p0 = attm_inv_sigma(g.seed, traj, alpha);
      p1 = 1.0 / alpha;
    }
  }
  prm[lane] = p0;
  prm[32 + lane] = p1;

  // the lane's buffer: cnt events from slot head on; groups drawn so far: next_group
  int head = 0, cnt = 0;
  uint32_t next_group = 0;
  bool done = !on;           // every event the trajectory needs is drawn
  double t_ev = 0.0;         // CTRW: time of the last accepted event
  int64_t last_k = -1;       // CTRW: its grid index
  int64_t reach = 0;         // LW: start of the next flight; ATTM: steps covered by the segments
  int64_t s_next = 0;        // LW: start of the flight after the current one
  double dcur[3] = {0.0, 0.0, 0.0};
  int64_t left = 0;          // ATTM: steps left in the current segment
  double r_cur = 0.0;
  Jumps steps(g.seed, traj, dim);  // ATTM: the per-step normals
  double acc[3] = {0.0, 0.0, 0.0};
  Out* out = static_cast<Out*>(g.out) + w0 * dim * T;

  for (int64_t t0 = 0; t0 < T + C; t0 += C) {  // the last round only stores
    AG_CONVERGE();
    if (t0 < T) {
      const int64_t te = t0 + C < T ? t0 + C : T;  // this round's positions: [t0, te)
      // 1. until every buffer covers the round, the warp draws groups of four events
      for (;;) {
        bool need = false;
        if (!done) {
          if (Model == CTRW) need = cnt == 0 || last_k < te;  // an event at or past te is known
          if (Model == LW) need = reach < te;                  // flights cover positions < reach
          if (Model == ATTM) need = reach < te - 1;            // segments cover steps < reach
        }
        if (!__any_sync(kFullMask, need)) break;
        const int want = done || !(need || kBuf - cnt >= kTopUp) ? 0 : (kBuf - cnt) / 4;
        int total = 0;
        const int off = warp_exclusive_scan(want, &total);
        pre[lane] = off;
        nextg[lane] = int(next_group);
        tail[lane] = (head + cnt) % kBuf;
        __syncwarp();
        for (int w = lane; w < total; w += 32) {
          AG_COUNT(Model == CTRW ? "ctrw events" : Model == LW ? "lw flights" : "attm segments");
          int o = 0;  // the owner: the last lane whose offset is <= w
          for (int step = 16; step > 0; step >>= 1)
            if (pre[o + step] <= w) o += step;
          const int k = w - pre[o];
          draw_group<Model, dim>(g, g.start + uint64_t(w0 + o), uint32_t(nextg[o] + k), prm[o], prm[32 + o],
                            key + o * kBuf, val + o * kBuf * nval, tail[o] + 4 * k);
        }
        __syncwarp();
        // the owner takes its new events in order (the host's serial part: adds, compares)
        for (int e = 0; e < 4 * want && !done; ++e) {
          const int s = (head + cnt) % kBuf;
          if (Model == CTRW) {
            t_ev += mykey[s];
            if (t_ev >= double(T)) {
              done = true;  // CtrwEvents::next: an event at or beyond T ends the walk
            } else {
              const int64_t k = int64_t(floor(t_ev));
              if (last_k < 0 && k == 0) {
                done = true;  // the host loop never reaches an event at 0 (waits are >= 1)
              } else {
                AG_COUNT("light:used");
                mykey[s] = double(k);
                last_k = k;
                ++cnt;
              }
            }
          } else {
            AG_COUNT("light:used");
            reach += int64_t(mykey[s]);
            ++cnt;
            if (reach >= (Model == LW ? T : T - 1)) done = true;
          }
        }
        next_group += uint32_t(want);
      }
      // 2. the host loop over this round's positions, from the buffer
      if (on) {
        for (int c = 0; c < C && t0 + c < T; ++c) {
          const int64_t t = t0 + c;
          if (t == 0) {
            for (int a = 0; a < dim; ++a) ring[a].put(lane, 0, Out(0));
            continue;
          }
          if (Model == CTRW) {
            double s[3] = {0.0, 0.0, 0.0};  // jumps of the events at grid index t, in order
            while (cnt > 0 && int64_t(mykey[head]) == t) {
              AG_COUNT("light:ctrw jump");
              for (int a = 0; a < dim; ++a) s[a] += myval[head * dim + a];
              head = (head + 1) % kBuf;
              --cnt;
            }
            for (int a = 0; a < dim; ++a) {
              acc[a] += s[a];
              ring[a].put(lane, t, Out(acc[a]));
            }
          } else if (Model == LW) {
            while (t >= s_next) {  // the flight covering t
              AG_COUNT("light:lw flight");
              s_next += int64_t(mykey[head]);
              for (int a = 0; a < dim; ++a) dcur[a] = myval[head * dim + a];
              head = (head + 1) % kBuf;
              --cnt;
            }
            for (int a = 0; a < dim; ++a) {
              acc[a] += dcur[a];
              ring[a].put(lane, t, Out(acc[a]));
            }
          } else {
            while (left == 0) {
              AG_COUNT("light:attm segment");
              left = int64_t(mykey[head]);
              r_cur = myval[head];
              head = (head + 1) % kBuf;
              --cnt;
            }
            --left;
            double z[3];
            steps.at(uint64_t(t - 1), r_cur, z);
            for (int a = 0; a < dim; ++a) {
              acc[a] += z[a];
              ring[a].put(lane, t, Out(acc[a]));
            }
          }
        }
      }
    }
    __syncwarp();
    for (int a = 0; a < dim; ++a) flush_rows(ring[a], out + int64_t(a) * T, int64_t(dim) * T, nrows, t0, T);
  }
}

template <class Spec>
__global__ void __launch_bounds__(kTrajThreads) traj_kernel(GenerateArgs g) {
  using Out = typename Spec::Out;
  constexpr int Model = Spec::model;
  AG_DYN_SHARED(unsigned char, traj_smem);
  const WarpLayout L = warp_layout<Out>(Model, Spec::dim);
  const int warp = int(threadIdx.x >> 5);
  unsigned char* mine = traj_smem + size_t(warp) * L.total;
  for (int64_t w0 = (int64_t(blockIdx.x) * kWarps + warp) * 32; w0 < g.n;
       w0 += int64_t(gridDim.x) * kTrajThreads) {
    if constexpr (Model == BM || Model == SBM)
      walk_warp<Out, Model, Spec::dim>(g, L, mine, w0);
    else
      events_warp<Out, Model, Spec::dim>(g, L, mine, w0);
  }
}

template <class Out, int Model, int Dim>
void traj_launch_dim(const GenerateArgs& g, cudaStream_t stream) {
  using Spec = TrajSpec<Out, Model, Dim>;
  const size_t smem = warp_layout<Out>(Model, Dim).total * kWarps;
  if (smem > 48 * 1024)
    check(cudaFuncSetAttribute(traj_kernel<Spec>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
          "generate shared memory");
  const int64_t blocks = (g.n + kTrajThreads - 1) / kTrajThreads;
  AG_LAUNCH(traj_kernel<Spec>, unsigned(blocks < INT_MAX ? blocks : INT_MAX), kTrajThreads, smem, stream, g);
  check_launch("generate");
}

template <class Out, int Model>
void traj_launch(const GenerateArgs& g, cudaStream_t stream) {
  if (g.dim == 1) return traj_launch_dim<Out, Model, 1>(g, stream);
  if (g.dim == 2) return traj_launch_dim<Out, Model, 2>(g, stream);
  return traj_launch_dim<Out, Model, 3>(g, stream);
}

// ---- FBM ----------------------------------------------------------------------------------------

struct FbmStatus {  // at the start of the caller's scratch
  int flag;         // 1: a circulant embedding had a negative eigenvalue
  int pad;
  double value;     // the most negative of them (0 when none)
};
constexpr size_t kFbmHeader = 256;  // the status, then the blocks' work areas (global path)

// One block's work area, in doubles: re[M], im[M], e[M/2 + 1], twiddles tq[2 fft_quarter(M)].
__host__ __device__ inline size_t fbm_doubles(int64_t M) {
  return size_t(2 * M + M / 2 + 1 + 2 * fft_quarter(M));
}

template <class Out_, bool Shared_>
struct FbmSpec {
  using Out = Out_;
  static constexpr bool shared = Shared_;
};

// The FFT below indexes with I: int32_t where the work area is in shared memory (M is at
// most a few thousand there), int64_t on the global-memory path (M up to 2^33); the
// arithmetic on the values is the same either way.

// fft_swap (fbm.h) with the bit reversal in one instruction where M fits 32 bits.
template <class I>
__device__ __forceinline__ void fft_swap_at(double* re, double* im, int l, I i) {
  if constexpr (sizeof(I) == 4)
    fft_swap_pair(re, im, i, I(__brev(unsigned(i)) >> (32 - l)));  // l >= 1: M >= 2
  else
    fft_swap_pair(re, im, i, I(bit_reverse(int64_t(i), l)));
}

// The elements of unit u of a pass over 2^span elements per group, from stage
// h = 2^lh: its first element i0 and its position pos < h within the stage's halves.
template <class I>
struct FftUnit {
  I h, pos, i0;
};
template <class I>
__device__ __forceinline__ FftUnit<I> fft_unit(I u, int lh, int span) {
  const I h = I(1) << lh;
  const I pos = u & (h - 1);
  return {h, pos, ((u >> lh) << (lh + span)) | pos};
}

// Butterfly b (< M/2) of the radix-2 stage with half-size h = 2^lh: the host's
// fft_butterfly with the kernel's quarter table of twiddles.
template <class I>
__device__ __forceinline__ void fft_radix2_at(double* re, double* im, const double* tq, I M, int l, int lh,
                                              I b) {
  const FftUnit<I> u = fft_unit(b, lh, 1);
  double wr, wi;
  fft_twiddle_q(tq, M, u.pos << (l - 1 - lh), &wr, &wi);
  fft_butterfly_ref(re[u.i0], im[u.i0], re[u.i0 + u.h], im[u.i0 + u.h], wr, wi);
}

// Unit q (< M/4) of stages h = 2^lh and 2h at once: the four elements i0 + {0, h, 2h, 3h}
// through stage h (pairs (0, h) and (2h, 3h), one twiddle) and stage 2h (pairs (0, 2h)
// and (h, 3h)) in registers, with the butterflies' own operations: the two radix-2
// stages to the bit, each element read and written once.
template <class I>
__device__ __forceinline__ void fft_radix4_at(double* re, double* im, const double* tq, I M, int l, int lh,
                                              I q) {
  const FftUnit<I> u = fft_unit(q, lh, 2);
  const I h = u.h, pos = u.pos, i0 = u.i0;
  double ar = re[i0], ai = im[i0], br = re[i0 + h], bi = im[i0 + h];
  double cr = re[i0 + 2 * h], ci = im[i0 + 2 * h], dr = re[i0 + 3 * h], di = im[i0 + 3 * h];
  double wr, wi;
  fft_twiddle_q(tq, M, pos << (l - 1 - lh), &wr, &wi);
  fft_butterfly_ref(ar, ai, br, bi, wr, wi);
  fft_butterfly_ref(cr, ci, dr, di, wr, wi);
  fft_twiddle_q(tq, M, pos << (l - 2 - lh), &wr, &wi);
  fft_butterfly_ref(ar, ai, cr, ci, wr, wi);
  fft_twiddle_q(tq, M, (pos + h) << (l - 2 - lh), &wr, &wi);
  fft_butterfly_ref(br, bi, dr, di, wr, wi);
  re[i0] = ar;
  im[i0] = ai;
  re[i0 + h] = br;
  im[i0 + h] = bi;
  re[i0 + 2 * h] = cr;
  im[i0 + 2 * h] = ci;
  re[i0 + 3 * h] = dr;
  im[i0 + 3 * h] = di;
}

// The host's radix-2 transform (fbm.h) across the block, two stages per pass (half the
// barriers and half the shared-memory traffic of one per stage), an odd last stage alone.
template <class I>
__device__ void block_fft(double* re, double* im, const double* tq, I M, int l) {
  for (I i = threadIdx.x; i < M; i += blockDim.x) fft_swap_at(re, im, l, i);
  __syncthreads();
  int lh = 0;
  for (; lh + 1 < l; lh += 2) {
    for (I q = threadIdx.x; q < M / 4; q += blockDim.x) fft_radix4_at(re, im, tq, M, l, lh, q);
    __syncthreads();
  }
  if (lh < l) {  // the odd stage left
    for (I b = threadIdx.x; b < M / 2; b += blockDim.x) fft_radix2_at(re, im, tq, M, l, lh, b);
    __syncthreads();
  }
}

// row[t] = src[0] + ... + src[t-1] in the host's order, in place: src[t-1] becomes row[t].
__device__ void serial_prefix(double* src, int64_t T) {
  double acc = 0.0;
  for (int64_t t = 1; t < T; ++t) {
    acc += src[t - 1];
    src[t - 1] = acc;
  }
}

template <class Spec>
__global__ void __launch_bounds__(kFbmThreads, 4) fbm_kernel(GenerateArgs g, int64_t M, int l,
                                                          FbmStatus* status, double* work) {
  using Out = typename Spec::Out;
  using FftIndex = std::conditional_t<Spec::shared, int32_t, int64_t>;  // block_fft's I
  AG_DYN_SHARED(double, fbm_smem);
  AG_SHARED(double, red, 2 * (kFbmThreads / 32));
  double* re = Spec::shared ? fbm_smem : work + size_t(blockIdx.x) * fbm_doubles(M);
  double* im = re + M;
  double* e = im + M;
  double* tq = e + M / 2 + 1;
  const int tid = int(threadIdx.x), nt = kFbmThreads;
  for (int64_t k = tid; k < fft_quarter(M); k += nt) fft_twiddle(tq, l, k);
  double cached = nan("");
  __syncthreads();
  for (int64_t i = blockIdx.x; i < g.n; i += gridDim.x) {
    const double alpha = AG_LD(g.alpha + (g.alpha_per_traj ? i : 0));
    if (!(alpha == cached)) {  // eigenvalues of the circulant embedding, as the host
      // the row is symmetric (c_k = c_{M-k}): M/2 + 1 evaluations, then mirrored
      for (int64_t k = tid; k <= M / 2; k += nt) re[k] = circulant_row(alpha, M, k);
      for (int64_t k = tid; k < M; k += nt) im[k] = 0.0;
      __syncthreads();
      for (int64_t k = M / 2 + 1 + tid; k < M; k += nt) re[k] = re[M - k];
      __syncthreads();
      block_fft(re, im, tq, FftIndex(M), l);
      double lo = 0.0, hi = 0.0;  // the host's bounds over k <= M/2 (min and max: any order)
      for (int64_t k = tid; k <= M / 2; k += nt) {
        hi = re[k] > hi ? re[k] : hi;
        lo = re[k] < lo ? re[k] : lo;
      }
      block_bounds(&lo, &hi, red, nt);
      if (lo < -1e-9 * hi) {  // the host throws; report it, skip the trajectory
        if (tid == 0) {  // every failing block: flag 1, value the minimum of their lo
          // lo < 0 here, and negative doubles order by magnitude as unsigned bit patterns
          // (the sign bit set, above the 0 the status starts from): the most negative lo
          // has the largest bits, so one atomic max keeps it, whatever the blocks' order
          atomicOr(&status->flag, 1);
          atomicMax(reinterpret_cast<unsigned long long*>(&status->value),
                    (unsigned long long)bits_of(lo));
        }
        __syncthreads();
        continue;
      }
      for (int64_t k = tid; k <= M / 2; k += nt) e[k] = sqrt((re[k] > 0.0 ? re[k] : 0.0) / double(M));
      cached = alpha;
      __syncthreads();
    }
    const uint64_t traj = g.start + uint64_t(i);
    Out* x = static_cast<Out*>(g.out) + i * g.dim * g.T;
    for (int s = 0; 2 * s < g.dim; ++s) {
      // normals 4p .. 4p+3 (one Philox block) are Re, Im of coefficients 2p and 2p + 1
      for (int64_t p = tid; p < M / 2; p += nt) {
        const Words w = philox_block(g.seed, traj, STREAM_AXIS + uint32_t(s), uint32_t(p));
        const Pair z0 = normal_pair(w.w[0], w.w[1]), z1 = normal_pair(w.w[2], w.w[3]);
        const int64_t k0 = 2 * p, k1 = 2 * p + 1;
        const double e0 = e[k0 <= M / 2 ? k0 : M - k0], e1 = e[k1 <= M / 2 ? k1 : M - k1];
        re[k0] = z0.z0 * e0;
        im[k0] = z0.z1 * e0;
        re[k1] = z1.z0 * e1;
        im[k1] = z1.z1 * e1;
      }
      __syncthreads();
      block_fft(re, im, tq, FftIndex(M), l);
      const bool two = 2 * s + 1 < g.dim;
      if (tid == 0) serial_prefix(re, g.T);  // the host's order: one thread per axis
      if (tid == 32 && two) serial_prefix(im, g.T);
      __syncthreads();
      Out* r0 = x + int64_t(2 * s) * g.T;
      for (int64_t t = tid; t < g.T; t += nt) {
        AG_ST(r0 + t, t == 0 ? Out(0) : Out(re[t - 1]));
        if (two) AG_ST(r0 + g.T + t, t == 0 ? Out(0) : Out(im[t - 1]));
      }
      __syncthreads();
    }
  }
}

struct FbmPlan {
  int64_t M = 0;
  int l = 0;
  bool shared = false;
  size_t smem = 0;      // dynamic shared memory (shared path)
  size_t work = 0;      // bytes of one block's work area (global path)
  int64_t grid = 0;     // resident blocks, at most n
};

template <class Out>
int fbm_blocks_per_sm(bool shared, size_t smem) {
  int b = 0;
  if (shared) {
    check(cudaFuncSetAttribute(fbm_kernel<FbmSpec<Out, true>>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               int(smem)),
          "fbm shared memory");
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, fbm_kernel<FbmSpec<Out, true>>, kFbmThreads, smem),
          "fbm occupancy");
  } else {
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, fbm_kernel<FbmSpec<Out, false>>, kFbmThreads, 0),
          "fbm occupancy");
  }
  return b > 0 ? b : 1;
}

// The launch of n trajectories of length T: shared memory when the embedding fits, else
// one global work area per resident block (for either output type), at most 1 GiB of them
// unless that is less than one block per SM.
FbmPlan fbm_plan(int64_t n, int64_t T) {
  FbmPlan p;
  p.M = fbm_embedding_size(T);
  p.l = ilog2(p.M);
  int dev = 0, sms = 0, optin = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "SM count");
  check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev), "shared memory limit");
  const size_t bytes = fbm_doubles(p.M) * sizeof(double);
  const size_t static_smem = sizeof(double) * 2 * (kFbmThreads / 32);
  p.shared = bytes + static_smem <= size_t(optin);
  p.smem = p.shared ? bytes : 0;
  p.work = p.shared ? 0 : bytes;
  const int per_sm = std::max(fbm_blocks_per_sm<float>(p.shared, p.smem), fbm_blocks_per_sm<double>(p.shared, p.smem));
  int64_t grid = int64_t(per_sm) * sms;
  if (!p.shared) {
    const int64_t cap = int64_t((size_t(1) << 30) / p.work);
    grid = std::min(grid, std::max<int64_t>(sms, cap));
  }
  p.grid = std::min(n, grid);
  return p;
}

uint64_t scratch_needed(const FbmPlan& p, int64_t n) {
  return n == 0 ? 0 : kFbmHeader + (p.shared ? 0 : uint64_t(p.grid) * p.work);
}

template <class Out>
void fbm_launch(const GenerateArgs& g, cudaStream_t stream) {
  const FbmPlan p = fbm_plan(g.n, g.T);
  const uint64_t need = scratch_needed(p, g.n);
  if (g.scratch == nullptr || g.scratch_bytes < need)
    bad_argument("scratch: fbm with n = " + std::to_string(g.n) + ", T = " + std::to_string(g.T) + " needs " +
                 std::to_string(need) + " bytes of device scratch (fbm_scratch_bytes(n, T)), got " +
                 std::to_string(g.scratch_bytes) + " bytes at " + hex_ptr(g.scratch));
  if (reinterpret_cast<uintptr_t>(g.scratch) % 16 != 0)
    bad_argument("scratch must be 16-byte aligned, got " + hex_ptr(g.scratch));
  FbmStatus* status = static_cast<FbmStatus*>(g.scratch);
  double* work = reinterpret_cast<double*>(static_cast<unsigned char*>(g.scratch) + kFbmHeader);
  check(cudaMemsetAsync(status, 0, sizeof(FbmStatus), stream), "fbm status");
  using InShared = FbmSpec<Out, true>;  // (a macro argument cannot hold the comma)
  using InGlobal = FbmSpec<Out, false>;
  if (p.shared) {
    AG_LAUNCH(fbm_kernel<InShared>, unsigned(p.grid), kFbmThreads, p.smem, stream, g, p.M, p.l, status,
              nullptr);
  } else {
    AG_LAUNCH(fbm_kernel<InGlobal>, unsigned(p.grid), kFbmThreads, 0, stream, g, p.M, p.l, status, work);
  }
  check_launch("fbm_kernel");
  // the host twin throws on a negative eigenvalue; so does this one (one 16-byte read back)
  FbmStatus h{};
  check(cudaMemcpyAsync(&h, status, sizeof h, cudaMemcpyDeviceToHost, stream), "fbm status");
  check(cudaStreamSynchronize(stream), "fbm");
  if (h.flag) throw std::runtime_error(negative_eigenvalue_message(h.value));
}

template <class Out>
void generate_typed(const GenerateArgs& g, cudaStream_t s) {
  switch (g.model) {
    case FBM: return fbm_launch<Out>(g, s);
    case CTRW: return traj_launch<Out, CTRW>(g, s);
    case LW: return traj_launch<Out, LW>(g, s);
    case ATTM: return traj_launch<Out, ATTM>(g, s);
    case SBM: return traj_launch<Out, SBM>(g, s);
    default: return traj_launch<Out, BM>(g, s);
  }
}

}  // namespace

uint64_t fbm_scratch_bytes(int64_t n, int64_t T) {
  if (n < 0) bad_argument("n must be >= 0, got " + std::to_string(n));
  if (T < 2 || T > (int64_t(1) << 32)) bad_argument("T must be in [2, 2**32], got " + std::to_string(T));
  if (n == 0) return 0;
  return scratch_needed(fbm_plan(n, T), n);
}

void check_alpha(const GenerateArgs& g, std::uintptr_t cuda_stream) {
  check_generate(g);  // the pointer and n first: nothing is read from a null or a bad size
  if (g.n == 0) return;
  const cudaStream_t s = reinterpret_cast<cudaStream_t>(cuda_stream);
  std::vector<double> a(g.alpha_per_traj ? size_t(g.n) : 1);
  check(cudaMemcpyAsync(a.data(), g.alpha, a.size() * sizeof(double), cudaMemcpyDeviceToHost, s),
        "alpha copy");
  check(cudaStreamSynchronize(s), "alpha copy");
  check_alpha_values(g.model, a.data(), int64_t(a.size()));
}

void generate(const GenerateArgs& g, std::uintptr_t cuda_stream) {
  check_generate(g);
  if (g.n == 0) return;
  const cudaStream_t s = reinterpret_cast<cudaStream_t>(cuda_stream);
  if (g.out_double)
    generate_typed<double>(g, s);
  else
    generate_typed<float>(g, s);
}

}  // namespace anomgrad::cuda
