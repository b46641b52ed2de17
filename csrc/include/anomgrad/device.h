// Device-code hooks shared by nvcc and the CUDA emulator (csrc/emu, docs/emulation.md).
//
// Under nvcc they are plain CUDA; in the emulation build (AG_EMULATION) they record what
// the cost model needs or give each block its own shared memory; in a plain host build
// they are plain code too.
//
//   AG_LD(p), AG_ST(p, v)   a global-memory load / store (*p, *p = v)
//   AG_COUNT("name")        one iteration of a loop whose trip count can differ between
//                           the lanes of a warp (the lock-step divergence)
//   AG_CONVERGE()           a point every lane of the warp passes together (the top of a
//                           warp-uniform loop); barriers and warp votes count as such
//   AG_SHARED(T, name, n)   a __shared__ array T name[n]
//   AG_DYN_SHARED(T, name)  the dynamic shared memory as extern __shared__ T name[]
//   AG_LAUNCH(k, grid, block, smem, stream, args...)   k<<<grid, block, smem, stream>>>(args)
#pragma once

#include "hd.h"

#if defined(AG_EMULATION)
#include "emu/emu.h"

#define AG_EMU_SITE(what, kind)                                                 \
  ([]() -> const ::emu::Site* {                                                 \
    static const ::emu::Site ag_emu_site_(__FILE__, __LINE__, what, kind);      \
    return &ag_emu_site_;                                                       \
  }())
#define AG_LD(p) (::emu::ld((p), AG_EMU_SITE("load", ::emu::Kind::load)))
#define AG_ST(p, v) (::emu::st((p), (v), AG_EMU_SITE("store", ::emu::Kind::store)))
#define AG_COUNT(name) (::emu::count(AG_EMU_SITE(name, ::emu::Kind::count)))
#define AG_CONVERGE() (::emu::converge())
#define AG_SHARED(T, name, n)                                                                 \
  T* const name = static_cast<T*>(::emu::static_shared(AG_EMU_SITE(#name, ::emu::Kind::shared), \
                                                       sizeof(T) * size_t(n), alignof(T)))
#define AG_DYN_SHARED(T, name) T* const name = static_cast<T*>(::emu::dynamic_shared())
// (kernel) in parentheses: a kernel name with a comma (f<A, B>) splits the macro's
// arguments, which nvcc rejects; so must the emulator (use an alias: f<Spec>).
#define AG_LAUNCH(kernel, grid, block, smem, stream, ...) \
  ::emu::launch(#kernel, (kernel), (grid), (block), (smem), (stream), __VA_ARGS__)

#else

#define AG_LD(p) (*(p))
#define AG_ST(p, v) ((void)(*(p) = (v)))
#define AG_COUNT(name) ((void)0)
#define AG_CONVERGE() ((void)0)
#if defined(__CUDACC__)
#define AG_SHARED(T, name, n) __shared__ T name[n]
#define AG_DYN_SHARED(T, name) extern __shared__ __align__(16) T name[]
#define AG_LAUNCH(kernel, grid, block, smem, stream, ...) \
  kernel<<<grid, block, smem, stream>>>(__VA_ARGS__)
#endif

#endif
