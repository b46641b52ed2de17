// The CUDA emulator (see emu.h and docs/emulation.md): fibers, the block scheduler,
// launch checks, per-block shared memory and the cost model's bookkeeping.
#include "emu/emu.h"

#include <dlfcn.h>
#include <elf.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <unordered_map>

#if defined(__SANITIZE_ADDRESS__)
#define AG_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AG_EMU_ASAN 1
#endif
#endif
#if defined(AG_EMU_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__x86_64__) && !defined(AG_EMU_UCONTEXT)
#define AG_EMU_ASM_SWITCH 1
#else
#include <ucontext.h>
#endif

namespace emu {

// ---- configuration ------------------------------------------------------------------------
namespace {
Device g_device;
Order g_order = Order::forward;
uint64_t g_shuffle_seed = 0;
std::vector<KernelStats> g_stats;
std::map<const void*, std::map<int, int>> g_func_attr;
std::map<const void*, size_t> g_func_static_smem;
std::vector<const Site*>& sites() {
  static std::vector<const Site*> s;
  return s;
}
std::mutex g_site_mutex;

cudaError_t g_last_error = cudaSuccess;
std::map<int, std::string> g_messages;
}  // namespace

bool g_recording = false;
namespace {
bool g_weak = false;
}
Device& device() { return g_device; }
void set_order(Order o, uint64_t seed) {
  g_order = o;
  g_shuffle_seed = seed;
}
Order order() { return g_order; }
void set_recording(bool on) { g_recording = on; }
void set_weak(bool on) { g_weak = on; }
std::vector<KernelStats>& stats() { return g_stats; }
void reset_stats() { g_stats.clear(); }

Site::Site(const char* f, int l, const char* w, Kind k) : file(f), line(l), what(w), kind(k) {
  std::lock_guard<std::mutex> lock(g_site_mutex);
  id = int(sites().size());
  sites().push_back(this);
}

void set_last_error(cudaError_t e, const std::string& message) {
  if (g_last_error == cudaSuccess) g_last_error = e;  // the first error sticks, as in CUDA
  g_messages[int(e)] = message;
}

// ---- kernel resources from ptxas --------------------------------------------------------------
namespace {
// The anonymous-namespace component of a mangled name, which nvcc and the host compiler
// spell differently (44_GLOBAL__N__ac576f33_11_generate_cu_061d6c2c against
// 12_GLOBAL__N_1), in the host compiler's spelling; the rest of the name is the same.
std::string canonical_name(std::string m) {
  static const std::string anon = "_GLOBAL__N_";
  for (size_t at = m.find(anon); at != std::string::npos; at = m.find(anon, at)) {
    size_t d = at;
    while (d > 0 && m[d - 1] >= '0' && m[d - 1] <= '9') --d;
    const size_t len = d < at ? size_t(std::stoul(m.substr(d, at - d))) : 0;
    if (len < anon.size() || at + len > m.size()) {  // not a length-prefixed component
      at += anon.size();
      continue;
    }
    m.replace(d, (at - d) + len, "12_GLOBAL__N_1");
    at = d + 14;
  }
  return m;
}

// The mangled names of this executable's functions by run-time address, from its .symtab.
std::unordered_map<uintptr_t, std::string> function_names() {
  std::unordered_map<uintptr_t, std::string> out;
  std::ifstream f("/proc/self/exe", std::ios::binary);
  const std::vector<char> img((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (img.size() < sizeof(Elf64_Ehdr)) return out;
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(img.data());
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_shoff + size_t(eh->e_shnum) * sizeof(Elf64_Shdr) > img.size())
    return out;
  uintptr_t base = 0;  // a position-independent executable is loaded at dli_fbase
  Dl_info info{};
  if (eh->e_type == ET_DYN && dladdr(reinterpret_cast<void*>(&function_names), &info))
    base = reinterpret_cast<uintptr_t>(info.dli_fbase);
  const auto* sh = reinterpret_cast<const Elf64_Shdr*>(img.data() + eh->e_shoff);
  for (unsigned i = 0; i < eh->e_shnum; ++i) {
    if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
    const auto* sym = reinterpret_cast<const Elf64_Sym*>(img.data() + sh[i].sh_offset);
    const char* str = img.data() + sh[sh[i].sh_link].sh_offset;
    for (size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym); ++k)
      if (ELF64_ST_TYPE(sym[k].st_info) == STT_FUNC && sym[k].st_value)
        out[base + sym[k].st_value] = str + sym[k].st_name;
  }
  return out;
}

// AG_EMU_PTXAS: one kernel per line, "mangled registers max_threads" (canonical names).
std::map<std::string, Resources> load_ptxas() {
  std::map<std::string, Resources> t;
  const char* path = std::getenv("AG_EMU_PTXAS");
  if (!path || !*path) return t;
  std::ifstream f(path);
  if (!f) throw std::runtime_error(std::string("emu: cannot read AG_EMU_PTXAS=") + path);
  std::string name;
  int regs = 0, nt = 0;
  while (f >> name >> regs >> nt) t[canonical_name(name)] = Resources{regs, nt, true};
  return t;
}

std::map<const void*, Resources> g_resources;  // per kernel, once looked up
}  // namespace

Resources resources(const void* fn) {
  auto it = g_resources.find(fn);
  if (it != g_resources.end()) return it->second;
  static const std::map<std::string, Resources> table = load_ptxas();
  Resources r{g_device.assumed_regs_per_thread, 0, false};
  if (!table.empty()) {
    static const std::unordered_map<uintptr_t, std::string> names = function_names();
    auto n = names.find(reinterpret_cast<uintptr_t>(fn));
    if (n != names.end()) {
      auto t = table.find(canonical_name(n->second));
      if (t != table.end()) r = t->second;
    }
  }
  return g_resources[fn] = r;
}
void set_resources(const void* fn, const Resources& r) { g_resources[fn] = r; }

// Blocks of `threads` threads one SM holds by registers (the occupancy calculator's rule:
// a warp's registers are allocated in units of reg_alloc_unit).
int blocks_by_registers(int regs, int threads) {
  const Device& d = g_device;
  const int warps = (threads + 31) / 32;
  const int per_warp = (regs * 32 + d.reg_alloc_unit - 1) / d.reg_alloc_unit * d.reg_alloc_unit;
  return per_warp > 0 ? (d.regs_per_sm / per_warp) / warps : d.max_blocks_per_sm;
}

// ---- fibers ---------------------------------------------------------------------------------
#if defined(AG_EMU_ASM_SWITCH)
// ag_emu_switch(save, to): push the callee-saved registers and the SSE/x87 control words,
// store the stack pointer in *save, load `to`, pop and return into the other context.
extern "C" void ag_emu_switch(void** save, void* to);
asm(R"(
  .text
  .globl ag_emu_switch
  .type ag_emu_switch, @function
ag_emu_switch:
  .cfi_startproc
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .cfi_endproc
  .size ag_emu_switch, .-ag_emu_switch
)");
#endif

enum class State : uint8_t { ready, block_bar, warp_bar, done };

struct Rec {
  uint32_t site;
  uint32_t bytes;
  uint64_t epoch;
  uintptr_t addr;
};

// A byte this thread stored that the other threads do not see yet (the weak model).
struct Pending {
  unsigned region;  // Sched::regions
  unsigned offset;
  unsigned char value;
};

struct Fiber {
  uint3 idx{};
  unsigned linear = 0, lane = 0, warp = 0;
  State state = State::ready;
  const char* bar_file = nullptr;
  int bar_line = 0;
  const char* bar_what = nullptr;
  unsigned bar_mask = 0;
  uint64_t epoch = 0;
  unsigned xparity = 0;
  uint64_t xslot[2] = {0, 0};
  std::exception_ptr error;
  std::vector<Rec> recs;
  std::vector<Pending> pending;
  // context
  char* stack = nullptr;  // lowest usable byte (above the guard page)
  size_t stack_size = 0;
  void* sp = nullptr;
#if !defined(AG_EMU_ASM_SWITCH)
  ucontext_t uc;
#endif
  void* asan_fake = nullptr;
};

thread_local Fiber* tl_fiber = nullptr;
thread_local uint3* tl_thread_idx = nullptr;
thread_local uint3 tl_block_idx{};
thread_local dim3 tl_block_dim, tl_grid_dim;

namespace {

struct StaticAlloc {
  const Site* site;
  void* p;
  size_t bytes;
};

struct Launch {
  LaunchConfig cfg;
  void (*body)(void*);
  void* ctx;
  size_t attr_dyn;  // the kernel's MaxDynamicSharedMemorySize
  KernelStats* ks;
  std::vector<std::unique_ptr<SiteStats>> site_stats;  // indexed by site id (sparse)
};

struct Sched {
  std::vector<std::unique_ptr<Fiber>> pool;
  unsigned nthreads = 0;
  void* sp = nullptr;  // the scheduler's stack pointer while a fiber runs
#if !defined(AG_EMU_ASM_SWITCH)
  ucontext_t uc;
#endif
  void* asan_fake = nullptr;
  const void* main_bottom = nullptr;
  size_t main_size = 0;
  Launch* launch = nullptr;
  // block state
  unsigned char* dyn = nullptr;
  size_t dyn_bytes = 0;
  std::vector<StaticAlloc> statics;
  size_t static_total = 0;
  uint64_t xbuf[32];
  // the weak model: each shared array and the bytes every thread sees in it; between two
  // runs of fibers the array holds exactly those, and a fiber runs on them plus its own
  // pending stores
  struct Region {
    unsigned char* p;
    size_t bytes;
    std::vector<unsigned char> seen;
  };
  std::vector<Region> regions;
};
thread_local Sched tl_sched;

size_t stack_bytes() {
  static const size_t s = [] {
    const char* e = std::getenv("AG_EMU_STACK_KB");
    return size_t(e ? std::atoi(e) : 256) * 1024;
  }();
  return s;
}

void alloc_stack(Fiber& f) {
  if (f.stack) return;
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  const size_t size = (stack_bytes() + page - 1) / page * page;
  void* m = mmap(nullptr, size + page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) throw std::runtime_error("emu: cannot map a fiber stack");
  mprotect(m, page, PROT_NONE);  // guard page below the stack
  f.stack = static_cast<char*>(m) + page;
  f.stack_size = size;
}

inline void asan_start(void** save, const void* bottom, size_t size) {
#if defined(AG_EMU_ASAN)
  __sanitizer_start_switch_fiber(save, bottom, size);
#else
  (void)save, (void)bottom, (void)size;
#endif
}
inline void asan_finish(void* save, const void** bottom, size_t* size) {
#if defined(AG_EMU_ASAN)
  __sanitizer_finish_switch_fiber(save, bottom, size);
#else
  (void)save, (void)bottom, (void)size;
#endif
}

[[noreturn]] void fiber_exit();

extern "C" void ag_emu_fiber_main() {
  Sched& s = tl_sched;
  Fiber* f = tl_fiber;
  asan_finish(nullptr, &s.main_bottom, &s.main_size);
  try {
    s.launch->body(s.launch->ctx);
  } catch (...) {
    f->error = std::current_exception();
  }
  f->state = State::done;
  fiber_exit();
}

#if !defined(AG_EMU_ASM_SWITCH)
void ucontext_entry() { ag_emu_fiber_main(); }
#endif

void init_fiber(Fiber& f) {
  alloc_stack(f);
#if defined(AG_EMU_ASAN)
  // the frames of the fiber's last run never returned: clear their redzones
  ASAN_UNPOISON_MEMORY_REGION(f.stack, f.stack_size);
#endif
  f.asan_fake = nullptr;
#if defined(AG_EMU_ASM_SWITCH)
  uint32_t mxcsr = 0;
  uint16_t fpucw = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  uint64_t* sp = reinterpret_cast<uint64_t*>(f.stack + f.stack_size);  // 16-aligned
  *--sp = 0;                                                        // return address of main
  *--sp = reinterpret_cast<uint64_t>(&ag_emu_fiber_main);           // popped by ret
  for (int r = 0; r < 6; ++r) *--sp = 0;                            // rbp rbx r12..r15
  *--sp = uint64_t(mxcsr) | (uint64_t(fpucw) << 32);
  f.sp = sp;
#else
  getcontext(&f.uc);
  f.uc.uc_stack.ss_sp = f.stack;
  f.uc.uc_stack.ss_size = f.stack_size;
  f.uc.uc_link = nullptr;
  makecontext(&f.uc, ucontext_entry, 0);
#endif
}

void resume(Fiber& f) {
  Sched& s = tl_sched;
  tl_fiber = &f;
  tl_thread_idx = &f.idx;
  asan_start(&s.asan_fake, f.stack, f.stack_size);
#if defined(AG_EMU_ASM_SWITCH)
  ag_emu_switch(&s.sp, f.sp);
#else
  swapcontext(&s.uc, &f.uc);
#endif
  asan_finish(s.asan_fake, nullptr, nullptr);
  tl_fiber = nullptr;
  tl_thread_idx = nullptr;
}

void yield_to_scheduler() {
  Sched& s = tl_sched;
  Fiber& f = *tl_fiber;
  asan_start(&f.asan_fake, s.main_bottom, s.main_size);
#if defined(AG_EMU_ASM_SWITCH)
  ag_emu_switch(&f.sp, s.sp);
#else
  swapcontext(&f.uc, &s.uc);
#endif
  asan_finish(f.asan_fake, &s.main_bottom, &s.main_size);
}

[[noreturn]] void fiber_exit() {
  Sched& s = tl_sched;
  Fiber& f = *tl_fiber;
  asan_start(nullptr, s.main_bottom, s.main_size);  // this fiber's fake stack can go
#if defined(AG_EMU_ASM_SWITCH)
  ag_emu_switch(&f.sp, s.sp);
#else
  swapcontext(&f.uc, &s.uc);
#endif
  std::abort();  // never resumed
}

std::string dim_str(const dim3& d) {
  return "(" + std::to_string(d.x) + ", " + std::to_string(d.y) + ", " + std::to_string(d.z) + ")";
}
std::string dim_str(const uint3& d) {
  return "(" + std::to_string(d.x) + ", " + std::to_string(d.y) + ", " + std::to_string(d.z) + ")";
}
std::string where(const Fiber& f) {
  return "thread " + dim_str(f.idx) + " of block " + dim_str(tl_block_idx);
}
std::string site_str(const char* file, int line) {
  const char* base = file ? std::strrchr(file, '/') : nullptr;
  return std::string(base ? base + 1 : (file ? file : "?")) + ":" + std::to_string(line);
}

[[noreturn]] void kernel_error(const std::string& what) {
  throw KernelError(std::string(tl_sched.launch ? tl_sched.launch->cfg.name : "?") + ": " + what);
}

// ---- the cost model: matching the records of a warp's lanes -------------------------------
struct Ent {
  uint32_t site;
  uint32_t k;
  uint64_t epoch;
  uintptr_t addr;
  uint32_t bytes;
  uint32_t lane;
};

SiteStats& site_stats(Launch& L, uint32_t id) {
  if (L.site_stats.size() <= id) L.site_stats.resize(id + 1);
  if (!L.site_stats[id]) {
    L.site_stats[id] = std::make_unique<SiteStats>();
    L.site_stats[id]->site = sites()[id];
  }
  return *L.site_stats[id];
}

void account_warp(Launch& L, Fiber* const* lanes, unsigned nl) {
  std::vector<Ent> ents;
  size_t total = 0;
  for (unsigned l = 0; l < nl; ++l) total += lanes[l]->recs.size();
  if (total == 0) return;
  ents.reserve(total);
  const size_t nsites = sites().size();
  std::vector<uint64_t> last_epoch(nsites, ~uint64_t(0));
  std::vector<uint32_t> kk(nsites, 0);
  std::vector<uint32_t> touched;
  for (unsigned l = 0; l < nl; ++l) {
    for (uint32_t s : touched) last_epoch[s] = ~uint64_t(0);
    touched.clear();
    for (const Rec& r : lanes[l]->recs) {
      if (last_epoch[r.site] == ~uint64_t(0)) touched.push_back(r.site);
      if (last_epoch[r.site] != r.epoch) {
        last_epoch[r.site] = r.epoch;
        kk[r.site] = 0;
      } else {
        ++kk[r.site];
      }
      ents.push_back(Ent{r.site, kk[r.site], r.epoch, r.addr, r.bytes, l});
    }
    lanes[l]->recs.clear();
  }
  std::sort(ents.begin(), ents.end(), [](const Ent& a, const Ent& b) {
    if (a.site != b.site) return a.site < b.site;
    if (a.epoch != b.epoch) return a.epoch < b.epoch;
    return a.k < b.k;
  });
  std::vector<uintptr_t> sec;
  std::vector<std::pair<uintptr_t, uintptr_t>> iv;
  KernelStats& ks = *L.ks;
  for (size_t i = 0; i < ents.size();) {
    size_t j = i;
    while (j < ents.size() && ents[j].site == ents[i].site && ents[j].epoch == ents[i].epoch &&
           ents[j].k == ents[i].k)
      ++j;
    const Site* site = sites()[ents[i].site];
    SiteStats& ss = site_stats(L, ents[i].site);
    if (site->kind == Kind::count) {
      ss.div.warp_iters += 1;
      ss.div.thread_iters += double(j - i) / double(nl);
      ks.div.warp_iters += 1;
      ks.div.thread_iters += double(j - i) / double(nl);
    } else {
      sec.clear();
      iv.clear();
      for (size_t e = i; e < j; ++e) {
        const uintptr_t a = ents[e].addr, b = a + ents[e].bytes;
        for (uintptr_t s = a >> 5; s <= (b - 1) >> 5; ++s) sec.push_back(s);
        iv.emplace_back(a, b);
      }
      std::sort(sec.begin(), sec.end());
      const uint64_t nsec = uint64_t(std::unique(sec.begin(), sec.end()) - sec.begin());
      std::sort(iv.begin(), iv.end());
      uint64_t useful = 0;
      uintptr_t lo = iv[0].first, hi = iv[0].second;
      for (size_t e = 1; e < iv.size(); ++e) {
        if (iv[e].first > hi) {
          useful += hi - lo;
          lo = iv[e].first;
          hi = iv[e].second;
        } else if (iv[e].second > hi) {
          hi = iv[e].second;
        }
      }
      useful += hi - lo;
      MemStats& m = site->kind == Kind::load ? ks.load : ks.store;
      m.instructions += 1;
      m.sectors += nsec;
      m.useful += useful;
      ss.mem.instructions += 1;
      ss.mem.sectors += nsec;
      ss.mem.useful += useful;
    }
    i = j;
  }
}

// ---- the weak model of shared memory ----------------------------------------------------------
void add_region(void* p, size_t bytes) {
  unsigned char* b = static_cast<unsigned char*>(p);
  tl_sched.regions.push_back(Sched::Region{b, bytes, std::vector<unsigned char>(b, b + bytes)});
}

// Before fiber f runs: the arrays show what it sees, its own pending stores included.
void show_pending(const Fiber& f) {
  for (const Pending& e : f.pending) tl_sched.regions[e.region].p[e.offset] = e.value;
}

// While (or after) fiber f runs: every byte it stored since it last ran joins its pending
// stores, with the value it holds now (a byte stored back to what the others see stays
// pending: that store still has to reach them).
void collect_pending(Fiber& f) {
  Sched& s = tl_sched;
  for (Pending& e : f.pending) e.value = s.regions[e.region].p[e.offset];
  const size_t before = f.pending.size();
  for (unsigned r = 0; r < s.regions.size(); ++r) {
    const Sched::Region& g = s.regions[r];
    constexpr size_t kChunk = 256;
    for (size_t c = 0; c < g.bytes; c += kChunk) {
      const size_t n = std::min(kChunk, g.bytes - c);
      if (std::memcmp(g.p + c, g.seen.data() + c, n) == 0) continue;
      for (size_t i = c; i < c + n; ++i)
        if (g.p[i] != g.seen[i]) f.pending.push_back(Pending{r, unsigned(i), g.p[i]});
    }
  }
  if (f.pending.size() > before) {  // one entry per byte
    auto key = [](const Pending& e) { return (uint64_t(e.region) << 32) | e.offset; };
    std::stable_sort(f.pending.begin(), f.pending.end(),
                     [&](const Pending& a, const Pending& b) { return key(a) < key(b); });
    f.pending.erase(std::unique(f.pending.begin(), f.pending.end(),
                                [&](const Pending& a, const Pending& b) { return key(a) == key(b); }),
                    f.pending.end());
  }
}

// After fiber f ran: its stores become pending, and the arrays show what all threads see.
void hide_pending(Fiber& f) {
  collect_pending(f);
  for (const Pending& e : f.pending) {
    Sched::Region& g = tl_sched.regions[e.region];
    g.p[e.offset] = g.seen[e.offset];
  }
}

// f's pending stores reach every thread (a barrier both pass, or f's __threadfence).
void publish(Fiber& f) {
  for (const Pending& e : f.pending) {
    Sched::Region& g = tl_sched.regions[e.region];
    g.p[e.offset] = g.seen[e.offset] = e.value;
  }
  f.pending.clear();
}

// ---- one block -------------------------------------------------------------------------------
void release(Fiber& f, uint64_t epoch) {
  f.state = State::ready;
  f.epoch = epoch;
}

std::string describe_states(Fiber* const* fs, unsigned n) {
  std::map<std::string, unsigned> groups;
  for (unsigned t = 0; t < n; ++t) {
    const Fiber& f = *fs[t];
    std::string k;
    switch (f.state) {
      case State::ready: k = "ready"; break;
      case State::done: k = "exited"; break;
      case State::block_bar: k = "__syncthreads at " + site_str(f.bar_file, f.bar_line); break;
      case State::warp_bar:
        k = std::string(f.bar_what) + " at " + site_str(f.bar_file, f.bar_line) + " (warp " +
            std::to_string(f.warp) + ")";
        break;
    }
    ++groups[k];
  }
  std::string out;
  for (auto& g : groups) out += "\n  " + std::to_string(g.second) + " thread(s): " + g.first;
  return out;
}

void run_block(Launch& L, const uint3& bidx, uint64_t block_linear) {
  Sched& s = tl_sched;
  const dim3 bd = L.cfg.block;
  const unsigned nt = bd.x * bd.y * bd.z;
  while (s.pool.size() < nt) s.pool.push_back(std::make_unique<Fiber>());
  std::vector<Fiber*> fs(nt);
  for (unsigned t = 0; t < nt; ++t) {
    Fiber& f = *s.pool[t];
    fs[t] = &f;
    f.idx = uint3{t % bd.x, (t / bd.x) % bd.y, t / (bd.x * bd.y)};
    f.linear = t;
    f.lane = t % 32;
    f.warp = t / 32;
    f.state = State::ready;
    f.epoch = 0;
    f.xparity = 0;
    f.error = nullptr;
    f.recs.clear();
    f.pending.clear();
    init_fiber(f);
  }
  tl_block_idx = bidx;
  // shared memory of this block: exact size, 0xFF bytes (NaN, -1)
  s.dyn_bytes = L.cfg.dyn_smem;
  s.dyn = static_cast<unsigned char*>(std::malloc(s.dyn_bytes ? s.dyn_bytes : 1));
  if (!s.dyn) throw std::runtime_error("emu: out of memory for dynamic shared memory");
  std::memset(s.dyn, 0xFF, s.dyn_bytes);
  s.statics.clear();
  s.static_total = 0;
  s.regions.clear();
  if (g_weak) add_region(s.dyn, s.dyn_bytes);
  struct Cleanup {
    Sched& s;
    ~Cleanup() {
      std::free(s.dyn);
      s.dyn = nullptr;
      for (auto& a : s.statics) std::free(a.p);
      s.statics.clear();
      s.regions.clear();
    }
  } cleanup{s};

  std::vector<unsigned> order(nt);
  for (unsigned t = 0; t < nt; ++t) order[t] = t;
  if (g_order == Order::reverse) {
    std::reverse(order.begin(), order.end());
  } else if (g_order == Order::shuffled) {
    std::mt19937_64 rng(g_shuffle_seed * 0x9E3779B97F4A7C15ull + block_linear + 1);
    std::shuffle(order.begin(), order.end(), rng);
  }
  const unsigned nwarps = (nt + 31) / 32;
  for (;;) {
    bool ran = false;
    for (unsigned t : order) {
      Fiber& f = *fs[t];
      if (f.state != State::ready) continue;
      if (g_weak) show_pending(f);
      resume(f);
      if (g_weak) hide_pending(f);
      ran = true;
      if (f.error) {
        try {
          std::rethrow_exception(f.error);
        } catch (const KernelError& e) {
          throw KernelError(std::string(e.what()) + " (" + where(f) + ")");
        } catch (const std::exception& e) {
          kernel_error(where(f) + " threw: " + e.what());
        }
      }
    }
    (void)ran;
    // every fiber is now at a barrier or exited: release the warps that can go
    bool released = false;
    for (unsigned w = 0; w < nwarps; ++w) {
      const unsigned lo = w * 32, hi = std::min(nt, lo + 32);
      const Fiber* first = nullptr;
      bool all = true;
      unsigned waiting = 0;
      for (unsigned t = lo; t < hi; ++t) {
        const Fiber& f = *fs[t];
        if (f.state == State::warp_bar) {
          ++waiting;
          if (!first) first = &f;
        }
      }
      if (!waiting) continue;
      const unsigned mask = first->bar_mask;
      uint64_t ep = 0;
      for (unsigned t = lo; t < hi; ++t) {
        const Fiber& f = *fs[t];
        const bool named = (mask >> (t - lo)) & 1u;
        if (f.state == State::warp_bar) {
          if (f.bar_mask != mask || f.bar_what != first->bar_what || f.bar_line != first->bar_line ||
              std::strcmp(f.bar_file, first->bar_file) != 0)
            kernel_error("lanes of warp " + std::to_string(w) + " of block " + dim_str(tl_block_idx) +
                         " meet at different warp-synchronous points:" + describe_states(&fs[lo], hi - lo));
          if (!named)
            kernel_error(std::string(f.bar_what) + " at " + site_str(f.bar_file, f.bar_line) +
                         ": the calling lane " + std::to_string(t - lo) + " is not in the mask");
          ep = std::max(ep, f.epoch);
        } else if (named) {
          if (f.state == State::done)
            kernel_error(std::string(first->bar_what) + " at " + site_str(first->bar_file, first->bar_line) +
                         " names lane " + std::to_string(t - lo) + " of warp " + std::to_string(w) +
                         ", which has exited (block " + dim_str(tl_block_idx) + ")");
          all = false;
        }
      }
      if (!all) continue;
      // __syncwarp orders the lanes' shared-memory stores; votes and shuffles do not
      const bool fence = std::strcmp(first->bar_what, "__syncwarp") == 0;
      for (unsigned t = lo; t < hi; ++t)
        if (fs[t]->state == State::warp_bar) {
          if (fence) publish(*fs[t]);
          release(*fs[t], ep + 1);
        }
      released = true;
    }
    if (released) continue;
    unsigned nb = 0, nd = 0, nw = 0;
    const Fiber* first = nullptr;
    uint64_t ep = 0;
    for (unsigned t = 0; t < nt; ++t) {
      const Fiber& f = *fs[t];
      if (f.state == State::done) ++nd;
      if (f.state == State::warp_bar) ++nw;
      if (f.state == State::block_bar) {
        ++nb;
        if (!first) first = &f;
        ep = std::max(ep, f.epoch);
      }
    }
    if (nd == nt) break;
    if (nb > 0 && nb + nd == nt) {
      if (nd > 0)
        kernel_error("__syncthreads at " + site_str(first->bar_file, first->bar_line) + " in block " +
                     dim_str(tl_block_idx) + " reached by " + std::to_string(nb) + " thread(s) while " +
                     std::to_string(nd) + " have exited");
      for (unsigned t = 0; t < nt; ++t) {
        const Fiber& f = *fs[t];
        if (f.bar_line != first->bar_line || std::strcmp(f.bar_file, first->bar_file) != 0)
          kernel_error("threads of block " + dim_str(tl_block_idx) +
                       " wait at different __syncthreads:" + describe_states(fs.data(), nt));
      }
      for (unsigned t = 0; t < nt; ++t) publish(*fs[t]);
      for (unsigned t = 0; t < nt; ++t) release(*fs[t], ep + 1);
      continue;
    }
    (void)nw;
    kernel_error("deadlock in block " + dim_str(tl_block_idx) + ":" + describe_states(fs.data(), nt));
  }
  if (g_recording) {
    for (unsigned w = 0; w < nwarps; ++w) {
      const unsigned lo = w * 32, hi = std::min(nt, lo + 32);
      account_warp(L, &fs[lo], hi - lo);
    }
  }
}

// The watchdog: a kernel that livelocks (a loop waiting for work that never comes) or
// deadlocks inside one thread would hang the run; after AG_EMU_TIMEOUT seconds (120) the
// process reports the launch and exits with status 124.
char g_watch_msg[256];
extern "C" void ag_emu_watchdog(int) {
  const ssize_t n = write(2, g_watch_msg, std::strlen(g_watch_msg));
  (void)n;
  _exit(124);
}
unsigned watchdog_seconds() {
  static const unsigned s = [] {
    const char* e = std::getenv("AG_EMU_TIMEOUT");
    return unsigned(e ? std::atoi(e) : 120);
  }();
  return s;
}

size_t attr_dyn_of(const void* fn) {
  auto it = g_func_attr.find(fn);
  if (it != g_func_attr.end()) {
    auto a = it->second.find(int(cudaFuncAttributeMaxDynamicSharedMemorySize));
    if (a != it->second.end()) return size_t(a->second);
  }
  return g_device.smem_default;
}

}  // namespace

void fail_width(const char* what, int width) {
  kernel_error(std::string(what) + " with width " + std::to_string(width) +
               " (a power of two from 1 to 32)");
}

unsigned lane_id() { return tl_fiber->lane; }

void converge() {
  if (tl_fiber) ++tl_fiber->epoch;
}

void atomic_stored(const void* p, size_t bytes) {
  Fiber* f = tl_fiber;
  if (!g_weak || !f) return;
  const unsigned char* b = static_cast<const unsigned char*>(p);
  Sched& s = tl_sched;
  for (unsigned r = 0; r < s.regions.size(); ++r) {
    Sched::Region& g = s.regions[r];
    if (b < g.p || b + bytes > g.p + g.bytes) continue;
    const unsigned o = unsigned(b - g.p);
    std::memcpy(g.seen.data() + o, b, bytes);
    f->pending.erase(std::remove_if(f->pending.begin(), f->pending.end(),
                                    [&](const Pending& e) {
                                      return e.region == r && e.offset >= o && e.offset < o + bytes;
                                    }),
                     f->pending.end());
  }
}

void thread_fence() {
  Fiber* f = tl_fiber;
  if (!g_weak || !f) return;
  collect_pending(*f);
  publish(*f);
}

void record(const Site* site, const void* addr, unsigned bytes) {
  Fiber& f = *tl_fiber;
  f.recs.push_back(Rec{uint32_t(site->id), bytes, f.epoch, reinterpret_cast<uintptr_t>(addr)});
}

void* dynamic_shared() {
  if (!tl_fiber) throw std::logic_error("emu: dynamic shared memory outside a kernel");
  return tl_sched.dyn;
}

void* static_shared(const Site* site, size_t bytes, size_t align) {
  Sched& s = tl_sched;
  if (!tl_fiber) throw std::logic_error("emu: __shared__ outside a kernel");
  for (auto& a : s.statics)
    if (a.site == site) return a.p;
  // new array of this block: exact size, 0xFF bytes
  const size_t total = (s.static_total + align - 1) / align * align + bytes;
  if (total > g_device.smem_default)
    kernel_error("static shared memory " + std::to_string(total) + " bytes (array '" + site->what +
                 "') exceeds the 48 KB limit of __shared__ declarations");
  if (total + s.dyn_bytes > g_device.smem_optin)
    kernel_error("static (" + std::to_string(total) + ") + dynamic (" + std::to_string(s.dyn_bytes) +
                 ") shared memory exceeds the opt-in maximum of " + std::to_string(g_device.smem_optin) +
                 " bytes per block");
  s.static_total = total;
  void* p = std::aligned_alloc(std::max<size_t>(align, 16), (std::max<size_t>(bytes, 1) + 15) / 16 * 16);
  if (!p) throw std::runtime_error("emu: out of memory for static shared memory");
  std::memset(p, 0xFF, bytes);
  s.statics.push_back(StaticAlloc{site, p, bytes});
  if (g_weak) add_region(p, bytes);
  Launch& L = *s.launch;
  L.ks->static_smem = std::max(L.ks->static_smem, total);
  size_t& st = g_func_static_smem[L.cfg.fn];
  st = std::max(st, total);
  return p;
}

void syncthreads(const char* file, int line) {
  Fiber* f = tl_fiber;
  if (!f) throw std::logic_error("emu: __syncthreads outside a kernel");
  f->state = State::block_bar;
  f->bar_file = file;
  f->bar_line = line;
  f->bar_what = "__syncthreads";
  yield_to_scheduler();
}

void syncwarp(const char* file, int line, unsigned mask) {
  Fiber* f = tl_fiber;
  if (!f) throw std::logic_error("emu: __syncwarp outside a kernel");
  f->state = State::warp_bar;
  f->bar_file = file;
  f->bar_line = line;
  f->bar_what = "__syncwarp";
  f->bar_mask = mask;
  yield_to_scheduler();
}

const uint64_t* warp_exchange(const char* what, unsigned mask, uint64_t mine) {
  Fiber* f = tl_fiber;
  if (!f) throw std::logic_error(std::string("emu: ") + what + " outside a kernel");
  const unsigned p = f->xparity;
  f->xslot[p] = mine;
  f->xparity ^= 1u;
  f->state = State::warp_bar;
  f->bar_file = "<warp intrinsic>";
  f->bar_line = 0;
  f->bar_what = what;
  f->bar_mask = mask;
  yield_to_scheduler();
  Sched& s = tl_sched;
  const unsigned lo = f->warp * 32;
  for (unsigned l = 0; l < 32; ++l) {
    const unsigned t = lo + l;
    s.xbuf[l] = (t < s.nthreads && ((mask >> l) & 1u)) ? s.pool[t]->xslot[p] : 0;
  }
  return s.xbuf;
}

cudaError_t set_func_attribute(const void* fn, cudaFuncAttribute attr, int value) {
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize &&
      (value < 0 || size_t(value) > g_device.smem_optin)) {
    set_last_error(cudaErrorInvalidValue,
                   "cudaFuncSetAttribute(MaxDynamicSharedMemorySize, " + std::to_string(value) +
                       "): above the opt-in maximum of " + std::to_string(g_device.smem_optin) +
                       " bytes per block");
    return cudaErrorInvalidValue;
  }
  g_func_attr[fn][int(attr)] = value;
  return cudaSuccess;
}

bool run_launch(const LaunchConfig& cfg, void (*body)(void*), void* ctx) {
  const Device& d = g_device;
  const dim3 b = cfg.block, g = cfg.grid;
  const uint64_t nt = uint64_t(b.x) * b.y * b.z;
  auto fail = [&](cudaError_t e, const std::string& why) {
    set_last_error(e, std::string(cfg.name) + " <<<" + dim_str(g) + ", " + dim_str(b) + ", " +
                          std::to_string(cfg.dyn_smem) + ">>>: " + why);
    return false;
  };
  if (b.x == 0 || b.y == 0 || b.z == 0 || b.x > 1024 || b.y > 1024 || b.z > 64 ||
      nt > uint64_t(d.max_threads_per_block))
    return fail(cudaErrorInvalidConfiguration,
                "invalid block size (at most 1024 threads, x, y <= 1024, z <= 64, none 0)");
  if (g.x == 0 || g.y == 0 || g.z == 0 || g.x > 2147483647u || g.y > 65535 || g.z > 65535)
    return fail(cudaErrorInvalidConfiguration,
                "invalid grid size (x in [1, 2^31 - 1], y and z in [1, 65535])");
  if (cfg.param_bytes > d.max_param_bytes)
    return fail(cudaErrorInvalidValue, "kernel parameters of " + std::to_string(cfg.param_bytes) +
                                           " bytes exceed " + std::to_string(d.max_param_bytes));
  const size_t attr = attr_dyn_of(cfg.fn);
  if (cfg.dyn_smem > d.smem_optin)
    return fail(cudaErrorInvalidValue, "dynamic shared memory of " + std::to_string(cfg.dyn_smem) +
                                           " bytes exceeds the opt-in maximum of " +
                                           std::to_string(d.smem_optin) + " bytes per block");
  if (cfg.dyn_smem > attr)
    return fail(cudaErrorInvalidValue,
                "dynamic shared memory of " + std::to_string(cfg.dyn_smem) + " bytes exceeds " +
                    std::to_string(attr) + " (above 48 KB needs cudaFuncSetAttribute("
                    "cudaFuncAttributeMaxDynamicSharedMemorySize))");
  const Resources res = resources(cfg.fn);
  if (res.max_threads > 0 && nt > uint64_t(res.max_threads))
    return fail(cudaErrorLaunchOutOfResources,
                "too many resources requested for launch: " + std::to_string(nt) +
                    " threads per block above the kernel's __launch_bounds__ of " +
                    std::to_string(res.max_threads));
  if (blocks_by_registers(res.registers, int(nt)) < 1)
    return fail(cudaErrorLaunchOutOfResources,
                "too many resources requested for launch: " + std::to_string(nt) + " threads of " +
                    std::to_string(res.registers) + " registers exceed the " +
                    std::to_string(d.regs_per_sm) + " registers of an SM");

  Launch L{cfg, body, ctx, attr, nullptr, {}};
  KernelStats* ks = nullptr;
  for (auto& k : g_stats)
    if (k.name == cfg.name) ks = &k;
  if (!ks) {
    g_stats.push_back(KernelStats{});
    ks = &g_stats.back();
    ks->name = cfg.name;
  }
  ks->launches += 1;
  ks->grid = g;
  ks->block = b;
  ks->dyn_smem = std::max(ks->dyn_smem, cfg.dyn_smem);
  ks->registers = res.registers;
  ks->from_ptxas = res.from_ptxas;
  ks->max_threads = res.max_threads;
  L.ks = ks;
  Sched& s = tl_sched;
  if (s.launch) throw std::logic_error("emu: a kernel launched from inside a kernel");
  s.launch = &L;
  s.nthreads = unsigned(nt);
  struct Reset {
    ~Reset() {
      tl_sched.launch = nullptr;
      tl_fiber = nullptr;
      tl_thread_idx = nullptr;
      alarm(0);
    }
  } reset;
  std::snprintf(g_watch_msg, sizeof g_watch_msg,
                "\nemu: %s has run for more than %u s: a hang (livelock or deadlock) in the kernel\n",
                cfg.name, watchdog_seconds());
  signal(SIGALRM, ag_emu_watchdog);
  alarm(watchdog_seconds());
  tl_block_dim = b;
  tl_grid_dim = g;
  const uint64_t nb = uint64_t(g.x) * g.y * g.z;
  std::vector<uint64_t> border;
  if (g_order == Order::forward || nb > (uint64_t(1) << 22)) {
    for (uint64_t i = 0; i < nb; ++i) border.push_back(i);
  } else {
    border.resize(nb);
    for (uint64_t i = 0; i < nb; ++i) border[i] = i;
    if (g_order == Order::reverse) {
      std::reverse(border.begin(), border.end());
    } else {
      std::mt19937_64 rng(g_shuffle_seed ^ 0xA5A5A5A5ull);
      std::shuffle(border.begin(), border.end(), rng);
    }
  }
  for (uint64_t bl : border) {
    const uint3 bidx{unsigned(bl % g.x), unsigned((bl / g.x) % g.y), unsigned(bl / (uint64_t(g.x) * g.y))};
    run_block(L, bidx, bl);
    ks->blocks += 1;
    ks->threads += nt;
  }
  // per-site statistics
  for (auto& p : L.site_stats) {
    if (!p) continue;
    SiteStats* mine = nullptr;
    for (auto& x : ks->sites)
      if (x.site == p->site) mine = &x;
    if (!mine) {
      ks->sites.push_back(SiteStats{p->site, {}, {}});
      mine = &ks->sites.back();
    }
    mine->mem.instructions += p->mem.instructions;
    mine->mem.sectors += p->mem.sectors;
    mine->mem.useful += p->mem.useful;
    mine->div.warp_iters += p->div.warp_iters;
    mine->div.thread_iters += p->div.thread_iters;
  }
  return true;
}

}  // namespace emu

// ---- runtime API ---------------------------------------------------------------------------------
using emu::g_device;

cudaError_t cudaGetLastError() {
  const cudaError_t e = emu::g_last_error;
  emu::g_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return emu::g_last_error; }
const char* cudaGetErrorString(cudaError_t e) {
  auto it = emu::g_messages.find(int(e));
  if (it != emu::g_messages.end()) return it->second.c_str();
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    default: return "emulated CUDA error";
  }
}
cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* dev) {
  *dev = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int dev) { return dev == 0 ? cudaSuccess : cudaErrorInvalidDevice; }
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int dev) {
  if (dev != 0) return cudaErrorInvalidDevice;
  const emu::Device& d = g_device;
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = d.max_threads_per_block; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = int(d.smem_default); break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMultiProcessorCount: *value = d.sms; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = d.max_threads_per_sm; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = int(d.smem_per_sm); break;
    case cudaDevAttrMaxRegistersPerMultiprocessor: *value = d.regs_per_sm; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = int(d.smem_optin); break;
    case cudaDevAttrMaxBlocksPerMultiprocessor: *value = d.max_blocks_per_sm; break;
    default: return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}
cudaError_t emu_occupancy(int* blocks, const void* fn, int block_size, size_t dyn_smem) {
  const emu::Device& d = g_device;
  if (block_size <= 0 || block_size > d.max_threads_per_block) return cudaErrorInvalidValue;
  const emu::Resources r = emu::resources(fn);
  if (r.max_threads > 0 && block_size > r.max_threads) {  // above __launch_bounds__: none fits
    *blocks = 0;
    return cudaSuccess;
  }
  const int warps = (block_size + 31) / 32;
  int b = std::min(d.max_blocks_per_sm, d.max_threads_per_sm / (warps * 32));
  b = std::min(b, emu::blocks_by_registers(r.registers, block_size));
  size_t st = 0;
  auto it = emu::g_func_static_smem.find(fn);
  if (it != emu::g_func_static_smem.end()) st = it->second;
  const size_t per = dyn_smem + st + d.smem_reserved_per_block;
  b = std::min<int>(b, int(d.smem_per_sm / per));
  *blocks = std::max(b, 0);
  return cudaSuccess;
}
cudaError_t cudaMallocAsync(void** p, size_t bytes, cudaStream_t) {
  *p = std::malloc(bytes ? bytes : 1);
  if (!*p) {
    emu::set_last_error(cudaErrorMemoryAllocation, "cudaMallocAsync of " + std::to_string(bytes) + " bytes");
    return cudaErrorMemoryAllocation;
  }
  std::memset(*p, 0xFF, bytes);
  return cudaSuccess;
}
cudaError_t cudaFreeAsync(void* p, cudaStream_t) {
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t) {
  std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t) {
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
