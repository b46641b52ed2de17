// ag_emu: runs the CUDA twins (csrc/cuda/*.cu, compiled for the host against the
// emulator) and compares them with the CPU twins (csrc/cpu/*.cpp) bit for bit, in every
// thread order; or records the cost model of one run.  tests/emulation/ drives it.
//
// Input, one case per line:   <id> <command> <arguments...>
// Output, one line per case:  <id> ok <detail> | <id> fail <message> | <id> json <object>
//
// Commands:
//   gen MODEL DIM T N s|p f|d SMS [alpha=A]   a generator (scalar or per-trajectory alpha)
//   proc normalize|noise|scale|cut DIM T N f|d SMS
//   cam N K L T NBANDS FLAGS SMS              FLAGS: comma-separated cam,cells,relu,linear,minmax
//   words N COUNT STREAM, normals N COUNT STREAM
//   invalid WHAT                               an argument check (driver.cpp: invalid_case)
//   fbmneg T s|p|m                             FBM with negative circulant eigenvalues
//   selftest NAME                              the emulator's own tests (selftest.cpp)
//   cost COMMAND ...                           the cost model of one forward-order run
//   weak COMMAND ...                           the case under the weak model of shared memory
// SMS is the emulated device's SM count (2 makes the grid-stride loops run).
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <typeinfo>
#include <vector>

#include "anomgrad/kernels.h"
#include "anomgrad/models.h"
#include "emu/emu.h"
#include "emu/selftest.h"

namespace ag = anomgrad;

namespace {

// ---- deterministic inputs -------------------------------------------------------------------
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (double(next() >> 11) + 0.5) * 0x1.0p-53; }
  double normal() {
    const double u = uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
  int64_t below(int64_t n) { return n > 0 ? int64_t(next() % uint64_t(n)) : 0; }
};

uint64_t hash_str(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// A buffer of exactly n elements (AddressSanitizer sees any access beyond), 0xFF bytes,
// 256-byte aligned as cudaMalloc's and torch's allocations (the sector counts depend on it).
template <class T>
struct Buf {
  T* p = nullptr;
  size_t n = 0;
  explicit Buf(size_t n_ = 0) : n(n_) {
    void* m = nullptr;
    if (posix_memalign(&m, 256, n > 0 ? n * sizeof(T) : 1) != 0) throw std::bad_alloc();
    p = static_cast<T*>(m);
    if (n) std::memset(static_cast<void*>(p), 0xFF, n * sizeof(T));
  }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf() { std::free(p); }
  size_t bytes() const { return n * sizeof(T); }
  void poison() {
    if (n) std::memset(static_cast<void*>(p), 0xFF, n * sizeof(T));
  }
};

// ---- comparing ----------------------------------------------------------------------------------
const char* order_name(emu::Order o) {
  return o == emu::Order::forward ? "forward" : o == emu::Order::reverse ? "reverse" : "shuffled";
}
const emu::Order kOrders[] = {emu::Order::forward, emu::Order::reverse, emu::Order::shuffled};

template <class T>
std::string show(T v) {
  std::ostringstream o;
  o.precision(17);
  if constexpr (std::is_floating_point<T>::value) {
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof v);
    o << v << " (0x" << std::hex << b << ")";
  } else {
    o << +v;
  }
  return o.str();
}

// "" when equal, else where and how they differ; shape gives the index names.
template <class T>
std::string compare(const char* what, const T* want, const T* got, size_t n,
                    const std::vector<int64_t>& shape) {
  size_t first = n, count = 0;
  for (size_t e = 0; e < n; ++e)
    if (std::memcmp(want + e, got + e, sizeof(T)) != 0) {
      if (first == n) first = e;
      ++count;
    }
  if (!count) return "";
  std::ostringstream o;
  o << what << ": " << count << " of " << n << " elements differ; first at [";
  size_t r = first;
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = int64_t(r % size_t(shape[d]));
    r /= size_t(shape[d]);
  }
  for (size_t d = 0; d < idx.size(); ++d) o << (d ? ", " : "") << idx[d];
  o << "]: cpu " << show(want[first]) << ", cuda " << show(got[first]);
  return o.str();
}

struct Fail : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check_no_pending_error(const char* after) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw Fail(std::string("a CUDA error was left pending after ") + after + ": " + cudaGetErrorString(e));
}

// Runs fn in every order (or only forward when recording) and compares.
void each_order(const std::string& id, const std::function<std::string()>& run_and_compare) {
  if (emu::recording()) {
    emu::set_order(emu::Order::forward);
    const std::string d = run_and_compare();
    if (!d.empty()) throw Fail("forward: " + d);
    return;
  }
  for (emu::Order o : kOrders) {
    emu::set_order(o, hash_str(id));
    const std::string d = run_and_compare();
    if (!d.empty()) throw Fail(std::string(order_name(o)) + " order: " + d);
  }
  emu::set_order(emu::Order::forward);
}

// ---- generators ---------------------------------------------------------------------------------
int model_of(const std::string& m) {
  for (int i = 0; i < 6; ++i)
    if (m == ag::MODEL_NAMES[i]) return i;
  throw Fail("unknown model " + m);
}

// The range [lo, hi] per-trajectory alphas are drawn from: inside each model's valid range
// (ag::alpha_range), away from its open ends.
void draw_range(int model, double& lo, double& hi) {
  switch (model) {
    case ag::FBM: lo = 0.05, hi = 1.95; break;
    case ag::CTRW: lo = 0.05, hi = 1.0; break;
    case ag::LW: lo = 1.01, hi = 2.0; break;
    case ag::ATTM: lo = 0.05, hi = 1.0; break;
    case ag::SBM: lo = 0.05, hi = 2.0; break;
    default: lo = hi = 1.0;
  }
}

// Scalar alphas used in turn: the boundaries with special code paths (lw 2, ctrw and attm 1).
double scalar_alpha(int model, uint64_t pick) {
  static const double fbm[] = {0.4, 1.6, 1.0, 0.1};
  static const double ctrw[] = {0.7, 1.0, 0.3};
  static const double lw[] = {1.5, 2.0, 1.05};
  static const double attm[] = {0.5, 1.0, 0.2};
  static const double sbm[] = {0.3, 1.7, 1.0};
  switch (model) {
    case ag::FBM: return fbm[pick % 4];
    case ag::CTRW: return ctrw[pick % 3];
    case ag::LW: return lw[pick % 3];
    case ag::ATTM: return attm[pick % 3];
    case ag::SBM: return sbm[pick % 3];
    default: return 1.0;
  }
}

struct GenSpec {
  std::string model, am, dt;
  int dim = 0, sms = 132;
  int64_t T = 0, n = 0;
  double fixed_alpha = std::nan("");
};

GenSpec parse_gen(std::istream& in) {
  GenSpec s;
  in >> s.model >> s.dim >> s.T >> s.n >> s.am >> s.dt >> s.sms;
  std::string tok;
  while (in >> tok)
    if (tok.rfind("alpha=", 0) == 0) s.fixed_alpha = std::atof(tok.c_str() + 6);
  if (!in.eof() || s.dim == 0) throw Fail("usage: gen MODEL DIM T N s|p f|d SMS [alpha=A]");
  return s;
}

template <class Out>
std::string gen_case(const std::string& id, const GenSpec& spec) {
  const std::string& model_s = spec.model;
  const std::string& am = spec.am;
  const int dim = spec.dim;
  const int64_t T = spec.T, n = spec.n;
  const int sms = spec.sms;
  const double fixed_alpha = spec.fixed_alpha;
  const int model = model_of(model_s);
  Rng rng(hash_str(id));
  const uint64_t seed = rng.next(), start = rng.next() >> 20;
  std::vector<double> alpha;
  if (am == "p") {
    double lo, hi;
    draw_range(model, lo, hi);
    for (int64_t i = 0; i < n; ++i) {
      double a = lo + (hi - lo) * rng.uniform();
      if (i % 7 == 3) a = hi;                            // the boundary value
      if (i % 5 == 2 && i > 0) a = alpha[size_t(i - 1)];  // runs of equal alphas (FBM's cache)
      alpha.push_back(a);
    }
    if (alpha.empty()) alpha.push_back(lo);
  } else {
    alpha.push_back(std::isnan(fixed_alpha) ? scalar_alpha(model, uint64_t(T) + uint64_t(dim)) : fixed_alpha);
  }
  if (model == ag::FBM && am == "p")
    for (double& a : alpha) a = a > 1.95 ? 1.95 : a;
  Buf<double> alpha_buf(alpha.size());
  std::memcpy(alpha_buf.p, alpha.data(), alpha.size() * sizeof(double));
  const size_t total = size_t(n) * size_t(dim) * size_t(T);
  Buf<Out> want(total), got(total);
  ag::GenerateArgs g{model, n, dim, T, seed, start, alpha_buf.p, am == "p" && n != 1, want.p,
                     std::is_same<Out, double>::value};
  emu::device().sms = sms;
  ag::cpu::generate(g);
  // the FBM kernel's work memory, as anomgrad/_cuda.py allocates it (exact size: ASan)
  const uint64_t need = model == ag::FBM ? ag::cuda::fbm_scratch_bytes(n, T) : 0;
  Buf<unsigned char> scratch{size_t(need)};
  g.scratch = need ? scratch.p : nullptr;
  g.scratch_bytes = need;
  g.out = got.p;
  each_order(id, [&]() -> std::string {
    got.poison();
    ag::cuda::generate(g, 0);
    check_no_pending_error("generate");
    return compare("trajectories", want.p, got.p, total, {n, dim, T});
  });
  return "";
}

// ---- processing -----------------------------------------------------------------------------------
template <class T_>
std::string proc_case(const std::string& id, const std::string& kind, int dim, int64_t T, int64_t n) {
  Rng rng(hash_str(id));
  const size_t total = size_t(n) * size_t(dim) * size_t(T);
  Buf<T_> x(total), want(total), got(total);
  for (int64_t r = 0; r < n * dim; ++r) {
    double acc = 0.0;
    const bool flat = r % 11 == 5;  // a constant row: standard deviation 0
    for (int64_t t = 0; t < T; ++t) {
      if (!flat) acc += rng.normal();
      x.p[r * T + t] = T_(acc);
    }
  }
  Buf<int64_t> off{size_t(n)};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t pick = i % 4;
    off.p[i] = pick == 0 ? 0 : pick == 1 ? T - 1 : rng.below(T);
  }
  Buf<double> par{size_t(n)};
  for (int64_t i = 0; i < n; ++i)
    par.p[i] = kind == "scale" ? rng.normal() : (i % 6 == 1 ? 0.0 : 2.0 * rng.uniform());
  const uint64_t seed = rng.next(), start = rng.next() >> 16;
  ag::ProcessArgs p{n, dim, T, x.p, want.p, std::is_same<T_, double>::value, off.p};
  auto cpu = [&]() {
    if (kind == "normalize") ag::cpu::normalize(p);
    else if (kind == "noise") ag::cpu::add_noise(p, par.p, seed, start);
    else if (kind == "scale") ag::cpu::scale(p, par.p);
    else if (kind == "cut") ag::cpu::cut(p);
    else throw Fail("unknown processing kind " + kind);
  };
  auto gpu = [&]() {
    if (kind == "normalize") ag::cuda::normalize(p, 0);
    else if (kind == "noise") ag::cuda::add_noise(p, par.p, seed, start, 0);
    else if (kind == "scale") ag::cuda::scale(p, par.p, 0);
    else ag::cuda::cut(p, 0);
  };
  cpu();
  p.out = got.p;
  each_order(id, [&]() -> std::string {
    got.poison();
    gpu();
    check_no_pending_error(kind.c_str());
    return compare(kind.c_str(), want.p, got.p, total, {n, dim, T});
  });
  return "";
}

// ---- Grad-CAM --------------------------------------------------------------------------------------
std::string cam_case(const std::string& id, std::istream& in) {
  int64_t n = 0, K = 0, L = 0, T = 0;
  int nbands = 0, sms = 132;
  std::string flags;
  in >> n >> K >> L >> T >> nbands >> flags >> sms;
  emu::device().sms = sms;
  auto has = [&](const char* f) { return ("," + flags + ",").find(std::string(",") + f + ",") != std::string::npos; };
  Rng rng(hash_str(id));
  Buf<float> A(size_t(n * K * L)), w(size_t(n * K));
  for (size_t e = 0; e < A.n; ++e) A.p[e] = float(rng.normal());
  for (size_t e = 0; e < w.n; ++e) w.p[e] = float(rng.normal());
  if (n > 1)  // a sample whose map is constant (min == max)
    for (int64_t e = 0; e < K; ++e) w.p[K + e] = 0.0f;
  const bool want_cam = has("cam"), want_cells = has("cells");
  Buf<float> cam_w(want_cam ? size_t(n * T) : 0), cam_g(want_cam ? size_t(n * T) : 0);
  Buf<float> cells_w(want_cells ? size_t(n * L) : 0), cells_g(want_cells ? size_t(n * L) : 0);
  Buf<uint8_t> bands_w(size_t(n * nbands * L)), bands_g(size_t(n * nbands * L));
  ag::CamArgs a{n, K, L, T, A.p, w.p, has("relu"), has("linear"), has("minmax"),
                want_cam ? cam_w.p : nullptr, want_cells ? cells_w.p : nullptr,
                nbands ? bands_w.p : nullptr, nbands};
  ag::cpu::gradcam(a);
  a.cam = want_cam ? cam_g.p : nullptr;
  a.cells = want_cells ? cells_g.p : nullptr;
  a.bands = nbands ? bands_g.p : nullptr;
  each_order(id, [&]() -> std::string {
    cam_g.poison();
    cells_g.poison();
    bands_g.poison();
    ag::cuda::gradcam(a, 0);
    check_no_pending_error("gradcam");
    std::string d;
    if (want_cam) d = compare("cam", cam_w.p, cam_g.p, cam_w.n, {n, T});
    if (d.empty() && want_cells) d = compare("cells", cells_w.p, cells_g.p, cells_w.n, {n, L});
    if (d.empty() && nbands) d = compare("bands", bands_w.p, bands_g.p, bands_w.n, {n, nbands, L});
    return d;
  });
  return "";
}

// ---- random-number kernels ------------------------------------------------------------------------
std::string rng_case(const std::string& id, const std::string& kind, std::istream& in) {
  int64_t n = 0, count = 0;
  uint32_t stream = 0;
  in >> n >> count >> stream;
  Rng rng(hash_str(id));
  const uint64_t seed = rng.next(), traj0 = rng.next();
  if (kind == "words") {
    Buf<uint32_t> want(size_t(n * count)), got(size_t(n * count));
    ag::cpu::rng_words(want.p, n, count, seed, traj0, stream);
    each_order(id, [&]() -> std::string {
      got.poison();
      ag::cuda::rng_words(got.p, n, count, seed, traj0, stream, 0);
      check_no_pending_error("rng_words");
      return compare("words", want.p, got.p, want.n, {n, count});
    });
  } else {
    Buf<double> want(size_t(n * count)), got(size_t(n * count));
    ag::cpu::rng_normals(want.p, n, count, seed, traj0, stream);
    each_order(id, [&]() -> std::string {
      got.poison();
      ag::cuda::rng_normals(got.p, n, count, seed, traj0, stream, 0);
      check_no_pending_error("rng_normals");
      return compare("normals", want.p, got.p, want.n, {n, count});
    });
  }
  return "";
}

// ---- defects: bad arguments rejected before a launch, FBM's negative eigenvalues ------------------

// The CUDA twin must throw std::invalid_argument whose message contains `want`, before
// launching anything.
template <class F>
void expect_invalid(const char* what, const char* want, F f) {
  emu::reset_stats();
  try {
    f();
  } catch (const std::invalid_argument& e) {
    if (!std::strstr(e.what(), want))
      throw Fail(std::string(what) + ": the message '" + e.what() + "' does not say '" + want + "'");
    if (!emu::stats().empty()) throw Fail(std::string(what) + ": rejected, but only after a launch");
    return;
  } catch (const std::exception& e) {
    throw Fail(std::string(what) + ": " + typeid(e).name() + " instead of invalid_argument: " + e.what());
  }
  throw Fail(std::string(what) + ": accepted (expected an error saying '" + want + "')");
}

std::string invalid_case(std::istream& in) {
  std::string what;
  in >> what;
  Buf<float> out(64), x(64);
  Buf<double> alpha(4), par(4);
  Buf<int64_t> off(4);
  for (int k = 0; k < 4; ++k) alpha.p[k] = 0.5, par.p[k] = 1.0, off.p[k] = 0;
  Buf<uint32_t> words(64);
  ag::GenerateArgs g{ag::CTRW, 2, 2, 10, 1, 0, alpha.p, false, out.p, false};
  ag::ProcessArgs p{2, 2, 10, x.p, out.p, false, off.p};
  ag::CamArgs c{2, 4, 3, 5, x.p, x.p, false, false, true, out.p, nullptr, nullptr, 0};
  auto gen = [&](ag::GenerateArgs a) { return [a] { ag::cuda::generate(a, 0); }; };
  if (what == "gen_model") {
    g.model = 7;
    expect_invalid("model 7", "model must be a Model id in [0, 5]", gen(g));
    g.model = -1;
    expect_invalid("model -1", "model must be a Model id in [0, 5]", gen(g));
  } else if (what == "gen_dim") {
    for (int d : {0, 4, -2}) {
      g.dim = d;
      expect_invalid("dim", "dim must be 1, 2 or 3", gen(g));
    }
  } else if (what == "gen_sizes") {
    g.n = -1;
    expect_invalid("n = -1", "n must be >= 0", gen(g));
    g.n = 2;
    for (int64_t T : {int64_t(0), int64_t(1), (int64_t(1) << 32) + 1}) {
      g.T = T;
      expect_invalid("T", "T must be in [2, 2**32]", gen(g));
    }
    g.T = int64_t(1) << 32;
    g.n = int64_t(1) << 40;
    expect_invalid("n * dim * T", "more than 2**60 elements", gen(g));
  } else if (what == "gen_null") {
    g.out = nullptr;
    expect_invalid("out", "out is a null device pointer", gen(g));
    g.out = out.p;
    g.alpha = nullptr;
    expect_invalid("alpha", "alpha is a null device pointer", gen(g));
  } else if (what == "gen_alpha") {  // generate_cuda's check: read back from the device buffer
    auto gen = [](ag::GenerateArgs a) { return [a] { ag::cuda::check_alpha(a, 0); }; };
    const double bad[] = {2.0, 1.5, 0.99, 0.02, 0.0, 0.5};  // just outside fbm .. bm
    for (int m = 0; m <= 5; ++m) {
      g.model = m;
      g.alpha_per_traj = false;
      alpha.p[0] = bad[m];
      expect_invalid("alpha out of range", "alpha[0] = ", gen(g));
      expect_invalid("alpha out of range", "is outside the valid range for", gen(g));
      alpha.p[0] = 0.5 * (ag::alpha_range(m).lo + ag::alpha_range(m).hi);  // valid: [1] is named
      alpha.p[1] = std::nan("");
      g.alpha_per_traj = true;
      expect_invalid("NaN alpha", "alpha[1] = nan is outside", gen(g));
      alpha.p[1] = alpha.p[0];
      ag::cuda::check_alpha(g, 0);  // valid values pass
    }
    alpha.p[0] = 0.5;
    alpha.p[1] = 0.5;
    g.model = ag::CTRW;
  } else if (what == "gen_fbm_scratch") {
    g.model = ag::FBM;
    g.T = 5000;  // the global-memory path
    expect_invalid("no scratch", "bytes of device scratch", gen(g));
    const uint64_t need = ag::cuda::fbm_scratch_bytes(g.n, g.T);
    Buf<unsigned char> s(need);
    g.scratch = s.p;
    g.scratch_bytes = need - 1;
    expect_invalid("scratch one byte short", "bytes of device scratch", gen(g));
    g.T = 10;  // the shared-memory path still needs the status word
    g.scratch = nullptr;
    g.scratch_bytes = 0;
    expect_invalid("no scratch (shared path)", "bytes of device scratch", gen(g));
  } else if (what == "proc_T0") {
    p.T = 0;
    expect_invalid("normalize T = 0", "T must be >= 1", [&] { ag::cuda::normalize(p, 0); });
    expect_invalid("add_noise T = 0", "T must be >= 1", [&] { ag::cuda::add_noise(p, par.p, 1, 0, 0); });
    expect_invalid("scale T = 0", "T must be >= 1", [&] { ag::cuda::scale(p, par.p, 0); });
    expect_invalid("cut T = 0", "T must be >= 1", [&] { ag::cuda::cut(p, 0); });
  } else if (what == "proc_args") {
    p.n = -3;
    expect_invalid("n", "n must be >= 0", [&] { ag::cuda::normalize(p, 0); });
    p.n = 2;
    p.dim = 0;
    expect_invalid("dim", "dim must be >= 1", [&] { ag::cuda::cut(p, 0); });
    p.dim = 2;
    expect_invalid("sigma", "sigma is a null device pointer", [&] { ag::cuda::add_noise(p, nullptr, 1, 0, 0); });
    expect_invalid("factor", "factor is a null device pointer", [&] { ag::cuda::scale(p, nullptr, 0); });
    p.off = nullptr;
    expect_invalid("off", "off is a null device pointer", [&] { ag::cuda::normalize(p, 0); });
  } else if (what == "cam_L0") {
    c.L = 0;
    expect_invalid("L = 0", "L must be >= 1", [&] { ag::cuda::gradcam(c, 0); });
  } else if (what == "cam_args") {
    c.T = 0;
    expect_invalid("T = 0", "T must be >= 1", [&] { ag::cuda::gradcam(c, 0); });
    c.T = 5;
    c.nbands = -1;
    expect_invalid("nbands", "nbands must be >= 0", [&] { ag::cuda::gradcam(c, 0); });
    c.nbands = 0;
    c.A = nullptr;
    expect_invalid("activations", "activations is a null device pointer", [&] { ag::cuda::gradcam(c, 0); });
  } else if (what == "rng_args") {
    expect_invalid("words count", "multiple of 4", [&] { ag::cuda::rng_words(words.p, 2, 6, 1, 0, 0, 0); });
    expect_invalid("words out", "out is a null", [&] { ag::cuda::rng_words(nullptr, 2, 8, 1, 0, 0, 0); });
    expect_invalid("normals n", "n_traj and count must be >= 0",
                   [&] { ag::cuda::rng_normals(reinterpret_cast<double*>(words.p), -1, 8, 1, 0, 0, 0); });
  } else {
    throw Fail("unknown invalid case " + what);
  }
  return "";
}

// A circulant embedding with a negative eigenvalue (alpha outside (0, 2)): both twins
// throw the same error, and leave the same rows unwritten.
std::string fbm_negative_case(const std::string& id, std::istream& in) {
  int64_t T = 0;
  std::string am;
  in >> T >> am;
  const int64_t n = 5;
  Buf<double> alpha{size_t(n)};
  // p: every other trajectory valid; m: two invalid alphas, so the most negative
  // eigenvalue must be reported whatever the order the blocks run in
  for (int64_t i = 0; i < n; ++i)
    alpha.p[i] = am == "m" ? (i % 2 ? 3.1 : 2.5) : (am == "p" && i % 2) ? 0.7 : 2.5;
  const size_t total = size_t(n) * 2 * size_t(T);
  Buf<double> want(total), got(total);
  ag::GenerateArgs g{ag::FBM, n, 2, T, 3, 0, alpha.p, am != "s", want.p, true};
  std::string cpu_msg = "(no error)";
  try {
    ag::cpu::generate(g);
  } catch (const std::runtime_error& e) {
    cpu_msg = e.what();
  }
  if (cpu_msg.find("negative eigenvalue") == std::string::npos) throw Fail("the CPU twin did not fail: " + cpu_msg);
  const uint64_t need = ag::cuda::fbm_scratch_bytes(n, T);
  Buf<unsigned char> scratch{size_t(need)};
  g.scratch = scratch.p;
  g.scratch_bytes = need;
  g.out = got.p;
  each_order(id, [&]() -> std::string {
    got.poison();
    std::string msg = "(no error)";
    try {
      ag::cuda::generate(g, 0);
    } catch (const std::runtime_error& e) {
      msg = e.what();
    }
    if (msg != cpu_msg) return "the CUDA twin says '" + msg + "', the CPU twin '" + cpu_msg + "'";
    return compare("trajectories", want.p, got.p, total, {n, 2, T});
  });
  return "";
}

// ---- cost output -------------------------------------------------------------------------------------
std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}

std::string stats_json() {
  std::ostringstream o;
  o << "[";
  bool first = true;
  for (const emu::KernelStats& k : emu::stats()) {
    o << (first ? "" : ",") << "{\"kernel\":\"" << json_escape(k.name) << "\",\"launches\":" << k.launches
      << ",\"blocks\":" << k.blocks << ",\"threads\":" << k.threads << ",\"grid\":[" << k.grid.x << ","
      << k.grid.y << "," << k.grid.z << "],\"block\":[" << k.block.x << "," << k.block.y << ","
      << k.block.z << "],\"dyn_smem\":" << k.dyn_smem << ",\"static_smem\":" << k.static_smem
      << ",\"registers\":" << k.registers << ",\"from_ptxas\":" << (k.from_ptxas ? "true" : "false")
      << ",\"max_threads\":" << k.max_threads
      << ",\"load\":{\"instructions\":" << k.load.instructions << ",\"sectors\":" << k.load.sectors
      << ",\"useful\":" << k.load.useful << "},\"store\":{\"instructions\":" << k.store.instructions
      << ",\"sectors\":" << k.store.sectors << ",\"useful\":" << k.store.useful
      << "},\"div\":{\"warp_iters\":" << k.div.warp_iters << ",\"thread_iters\":" << k.div.thread_iters
      << "},\"sites\":[";
    bool fs = true;
    for (const emu::SiteStats& s : k.sites) {
      const char* base = std::strrchr(s.site->file, '/');
      o << (fs ? "" : ",") << "{\"site\":\"" << json_escape(base ? base + 1 : s.site->file) << ":"
        << s.site->line << "\",\"what\":\"" << json_escape(s.site->what) << "\",\"kind\":"
        << int(s.site->kind) << ",\"instructions\":" << s.mem.instructions << ",\"sectors\":" << s.mem.sectors
        << ",\"useful\":" << s.mem.useful << ",\"warp_iters\":" << s.div.warp_iters
        << ",\"thread_iters\":" << s.div.thread_iters << "}";
      fs = false;
    }
    o << "]}";
    first = false;
  }
  o << "]";
  return o.str();
}

std::string run_command(const std::string& id, const std::string& cmd, std::istream& in) {
  if (cmd == "gen") {
    const GenSpec spec = parse_gen(in);
    return spec.dt == "d" ? gen_case<double>(id, spec) : gen_case<float>(id, spec);
  }
  if (cmd == "proc") {
    std::string kind, dt;
    int dim = 0, sms = 132;
    int64_t T = 0, n = 0;
    in >> kind >> dim >> T >> n >> dt >> sms;
    emu::device().sms = sms;
    return dt == "d" ? proc_case<double>(id, kind, dim, T, n) : proc_case<float>(id, kind, dim, T, n);
  }
  if (cmd == "cam") {
    return cam_case(id, in);
  }
  if (cmd == "words" || cmd == "normals") return rng_case(id, cmd, in);
  if (cmd == "invalid") return invalid_case(in);
  if (cmd == "fbmneg") return fbm_negative_case(id, in);
  if (cmd == "selftest") {
    std::string name;
    in >> name;
    return emu_selftest(name);
  }
  if (cmd == "weak") {  // the same case with the weak model of shared memory
    std::string sub;
    in >> sub;
    emu::set_weak(true);
    struct Off {
      ~Off() { emu::set_weak(false); }
    } off;
    return run_command(id, sub, in);
  }
  if (cmd == "cost") {
    std::string sub;
    in >> sub;
    emu::reset_stats();
    emu::set_recording(true);
    struct Off {
      ~Off() { emu::set_recording(false); }
    } off;
    std::string compared = "equal";
    try {
      run_command(id, sub, in);
    } catch (const Fail& e) {
      compared = e.what();  // still report the cost of the run
    }
    return "json {\"compare\":\"" + json_escape(compared) + "\",\"kernels\":" + stats_json() + "}";
  }
  throw Fail("unknown command " + cmd);
}

}  // namespace

int main(int argc, char** argv) {
  (void)argc;
  (void)argv;
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::string id, cmd;
    in >> id >> cmd;
    emu::device() = emu::Device{};
    emu::set_order(emu::Order::forward);
    std::string result;
    try {
      const std::string detail = run_command(id, cmd, in);
      result = detail.rfind("json ", 0) == 0 ? id + " " + detail : id + " ok" + (detail.empty() ? "" : " " + detail);
    } catch (const std::exception& e) {
      result = id + " fail " + e.what();
      (void)cudaGetLastError();
    }
    for (char& c : result)
      if (c == '\n') c = '|';
    std::cout << result << "\n" << std::flush;
  }
  return 0;
}
