// AG_HD marks functions compiled for both host and device.
// In a host-only build (g++) it expands to nothing, so the same math is compiled
// and tested on the CPU in CI.
#pragma once
#if defined(__CUDACC__)
#define AG_HD __host__ __device__ __forceinline__
#else
#define AG_HD inline
#endif
