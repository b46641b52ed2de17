// CPU twin of csrc/cuda/gradcam.cu: one sample per OpenMP iteration, one pass over the
// activations, no intermediate arrays beyond a per-thread row of T values.
#include <algorithm>
#include <limits>
#include <vector>

#include "anomgrad/gradcam.h"
#include "anomgrad/kernels.h"

namespace anomgrad::cpu {

void gradcam(const CamArgs& a) {
#pragma omp parallel
  {
    std::vector<float> c(a.L), v(a.T), sorted, cmin, cmax;
    std::vector<int64_t> count;
    std::vector<double> edges;
    if (a.bands) {
      sorted.resize(a.T);
      cmin.resize(a.L);
      cmax.resize(a.L);
      count.resize(a.L);
      edges.resize(a.nbands + 1);
    }
#pragma omp for schedule(static)
    for (int64_t i = 0; i < a.n; ++i) {
      const float* A = a.A + i * a.K * a.L;
      const float* w = a.w + i * a.K;
      for (int64_t j = 0; j < a.L; ++j) {
        double part[CAM_GROUPS];
        for (int g = 0; g < CAM_GROUPS; ++g) part[g] = cam_partial(A, w, a.K, a.L, j, g);
        c[j] = cam_combine(part, a.relu);
      }
      if (a.cells) std::copy(c.begin(), c.end(), a.cells + i * a.L);
      if (!a.cam && !a.bands) continue;
      float lo = std::numeric_limits<float>::infinity(), hi = -lo;
      for (int64_t t = 0; t < a.T; ++t) {
        v[t] = cam_upsample(c.data(), a.L, a.T, t, a.linear);
        lo = v[t] < lo ? v[t] : lo;
        hi = v[t] > hi ? v[t] : hi;
      }
      if (a.cam) {
        float* out = a.cam + i * a.T;
        for (int64_t t = 0; t < a.T; ++t) out[t] = a.minmax ? cam_minmax(v[t], lo, hi) : v[t];
      }
      if (a.bands) {
        std::copy(v.begin(), v.end(), sorted.begin());
        std::sort(sorted.begin(), sorted.end());
        for (int b = 0; b <= a.nbands; ++b)
          edges[b] = cam_percentile(sorted.data(), a.T, double(100 * b) / double(a.nbands) / 100.0);
        std::fill(count.begin(), count.end(), 0);
        for (int64_t t = 0; t < a.T; ++t) {
          const int64_t j = cam_nearest(t, a.L, a.T);
          cmin[j] = count[j] == 0 || v[t] < cmin[j] ? v[t] : cmin[j];
          cmax[j] = count[j] == 0 || v[t] > cmax[j] ? v[t] : cmax[j];
          ++count[j];
        }
        uint8_t* m = a.bands + i * a.nbands * a.L;
        for (int b = 0; b < a.nbands; ++b)
          for (int64_t j = 0; j < a.L; ++j)
            m[b * a.L + j] = count[j] > 0 && double(cmin[j]) > edges[b] && double(cmax[j]) < edges[b + 1];
      }
    }
  }
}

}  // namespace anomgrad::cpu
