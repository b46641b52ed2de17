"""A test that cannot fail is a defect: this puts one defect at a time into a copy of
csrc/ -- a barrier removed, an index shifted, an argument check or the FBM status
read-back dropped -- rebuilds ag_emu (AddressSanitizer + UBSan) and runs the emulation
cases that must catch it.  Every mutant must make at least one of them fail.

    python tests/emulation/mutants.py            # all mutants, a few minutes on 2 cores
    python tests/emulation/mutants.py syncwarp   # those whose name contains 'syncwarp'
    .ci/emulation.sh --mutants                   # the same after the emulation tests
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import emu  # noqa: E402

# (name, file under csrc/, text, replacement, cases that must catch it)
MUTANTS = [
    ("walk: __syncwarp before the stores removed", "cuda/generate.cu",
     "            ring[a].put(lane, t, Out(acc[a]));\n          }\n        }\n      }\n    }\n    __syncwarp();",
     "            ring[a].put(lane, t, Out(acc[a]));\n          }\n        }\n      }\n    }\n",
     ["gen bm 2 257 70 s f 132", "gen sbm 3 1000 70 p d 2"]),
    ("fbm: __syncthreads after a two-stage FFT pass removed", "cuda/generate.cu",
     "fft_radix4_at(re, im, tq, M, l, lh, q);\n    __syncthreads();",
     "fft_radix4_at(re, im, tq, M, l, lh, q);",
     ["gen fbm 2 257 3 s d 132", "gen fbm 1 1000 3 p f 2"]),
    ("fbm: __syncthreads after the odd FFT stage removed", "cuda/generate.cu",
     "fft_radix2_at(re, im, tq, M, l, lh, b);\n    __syncthreads();",
     "fft_radix2_at(re, im, tq, M, l, lh, b);",
     ["gen fbm 2 257 3 s d 132", "gen fbm 1 1000 3 p f 2"]),
    ("fbm: the second stage of a two-stage pass takes the first one's twiddle", "cuda/generate.cu",
     "fft_twiddle_q(tq, M, (pos + h) << (l - 2 - lh), &wr, &wi);",
     "fft_twiddle_q(tq, M, pos << (l - 2 - lh), &wr, &wi);",
     ["gen fbm 2 257 3 s d 132", "gen fbm 1 1000 3 p f 2"]),
    ("fbm: the 32-bit bit reversal shifted one bit short", "cuda/generate.cu",
     "I(__brev(unsigned(i)) >> (32 - l))", "I(__brev(unsigned(i)) >> (31 - l))",
     ["gen fbm 2 257 3 s d 132", "gen fbm 1 1000 3 p f 2"]),
    ("fbm: prefix sums read one position late", "cuda/generate.cu",
     "AG_ST(r0 + t, t == 0 ? Out(0) : Out(re[t - 1]));",
     "AG_ST(r0 + t, t == 0 ? Out(0) : Out(re[t]));",
     ["gen fbm 2 257 3 s d 132", "gen fbm 3 1000 3 p f 2"]),
    ("events: owner search off by one lane", "cuda/generate.cu",
     "          const int k = w - pre[o];",
     "          o = o > 0 ? o - 1 : o;\n          const int k = w - pre[o];",
     ["gen ctrw 2 1000 70 p d 2", "gen lw 2 257 70 s f 132", "gen attm 3 1000 70 p f 2"]),
    ("events: __syncwarp after the draws removed", "cuda/generate.cu",
     "        }\n        __syncwarp();\n        // the owner takes its new events",
     "        }\n        // the owner takes its new events",
     ["gen ctrw 2 1000 70 p d 2", "gen lw 2 257 70 s f 132", "gen attm 3 1000 70 p f 2"]),
    ("row ring: stores one position off", "cuda/warp.cuh",
     "    const int64_t t = t0 - row_phase(row) + c;\n    if (t >= 0 && t < T) AG_ST(row + t, ring.get(r, t));",
     "    const int64_t t = t0 - row_phase(row) + c;\n    if (t >= 0 && t < T) AG_ST(row + t, ring.get(r, t + 1));",
     ["gen bm 2 257 70 s f 132", "gen ctrw 2 1000 70 p d 2"]),
    ("normalize: __syncwarp after the loads removed", "cuda/processing.cu",
     "        gather_rows(in, x + r0 * T, T, nrows, t0, T);\n        __syncwarp();",
     "        gather_rows(in, x + r0 * T, T, nrows, t0, T);",
     ["proc normalize 2 257 37 f 132", "proc normalize 3 1000 19 d 2"]),
    ("cut: ring index shifted", "cuda/processing.cu",
     "t < o ? T_(0) : mine[(t - o) & 63]",
     "t < o ? T_(0) : mine[(t - o + 1) & 63]",
     ["proc cut 2 257 37 f 132", "proc cut 1 1000 19 d 2"]),
    ("gradcam: __syncthreads after the weights removed", "cuda/gradcam.cu",
     "    for (int64_t k = tid; k < a.K; k += nt) ws[k] = AG_LD(w + k);\n    __syncthreads();",
     "    for (int64_t k = tid; k < a.K; k += nt) ws[k] = AG_LD(w + k);",
     ["cam 13 64 32 1000 10 cam,cells,minmax 132", "cam 13 16 7 100 0 cam,linear,minmax 2"]),
    ("gradcam: __syncthreads after the cells' runs removed", "cuda/gradcam.cu",
     "last[j] = t;\n      }\n      __syncthreads();",
     "last[j] = t;\n      }",
     ["cam 13 64 32 1000 10 cam,cells,minmax 132", "cam 13 16 7 100 4 cam,minmax 2"]),
    ("gradcam: a cell's run ends one step early", "cuda/gradcam.cu",
     "!= j) last[j] = t;", "!= j) last[j] = t - 1;",
     ["cam 13 16 32 1000 10 cam,linear,minmax 132", "cam 13 16 50 60 5 cam,minmax 2"]),
    ("rng words: __syncthreads before the stores removed", "cuda/rng.cu",
     "  __syncthreads();\n  const int64_t words",
     "  const int64_t words",
     ["words 70 8 1", "words 3 64 5"]),
    ("normalize: T = 0 no longer rejected", "cuda/processing.cu",
     "void normalize(const ProcessArgs& p, std::uintptr_t s) {\n  check_process(p);",
     "void normalize(const ProcessArgs& p, std::uintptr_t s) {",
     ["invalid proc_T0"]),
    ("gradcam: L = 0 no longer rejected", "cuda/gradcam.cu",
     "  check_cam(a);\n", "", ["invalid cam_L0"]),
    ("generate: model id not checked", "cuda/args.cuh",
     "  if (g.model < 0 || g.model > 5)", "  if (false)", ["invalid gen_model"]),
    ("fbm: the first failing block's eigenvalue reported, not the most negative", "cuda/generate.cu",
     "atomicMax(reinterpret_cast<unsigned long long*>(&status->value),",
     "atomicCAS(reinterpret_cast<unsigned long long*>(&status->value), 0ull,",
     ["fbmneg 1000 m", "fbmneg 100 m"]),
    ("fbm: the eigenvalue bounds' butterfly starts at offset 8 (lanes 16-31 unseen)",
     "cuda/warp.cuh", "for (int d = 16; d > 0; d >>= 1) {\n    const double h2",
     "for (int d = 8; d > 0; d >>= 1) {\n    const double h2", ["selftest block_bounds"]),
    ("fbm: the mirrored half of the circulant row read before it is written", "cuda/generate.cu",
     "      __syncthreads();\n      for (int64_t k = M / 2 + 1 + tid; k < M; k += nt) re[k] = re[M - k];",
     "      for (int64_t k = M / 2 + 1 + tid; k < M; k += nt) re[k] = re[M - k];",
     ["gen fbm 2 1000 3 p f 2", "gen fbm 1 257 37 s d 132"]),
    ("generate: alpha outside the model's range accepted", "cpu/generate.cpp",
     "    if (alpha_valid(model, alpha[i])) continue;", "    continue;", ["invalid gen_alpha"]),
    # a vote or a shuffle orders no memory: only the weak model of shared memory sees these
    ("sbm: the scale table's __syncwarp replaced by a vote", "cuda/generate.cu",
     "tab[lane] = sbm_scale(alpha, t0 + lane);\n        __syncwarp();",
     "tab[lane] = sbm_scale(alpha, t0 + lane);\n        (void)__any_sync(kFullMask, 1);",
     ["weak gen sbm 3 1000 70 s d 2", "weak gen sbm 2 257 70 s f 132"]),
    ("events: the __syncwarp after the owners' offsets replaced by a ballot", "cuda/generate.cu",
     "        tail[lane] = (head + cnt) % kBuf;\n        __syncwarp();",
     "        tail[lane] = (head + cnt) % kBuf;\n        (void)__ballot_sync(kFullMask, 1);",
     ["weak gen ctrw 2 1000 70 p d 2", "weak gen lw 2 257 70 s f 132", "weak gen attm 3 1000 70 p f 2"]),
    ("emulator: votes and shuffles publish the lanes' stores", "emu/emu.cpp",
     'const bool fence = std::strcmp(first->bar_what, "__syncwarp") == 0;',
     "const bool fence = true;", ["selftest weak_memory"]),
    ("emulator: a kernel's __launch_bounds__ not enforced at launch", "emu/emu.cpp",
     "if (res.max_threads > 0 && nt > uint64_t(res.max_threads))", "if (false)", ["selftest resources"]),
    ("fbm: negative eigenvalue status not read back", "cuda/generate.cu",
     "  if (h.flag) throw", "  if (false) throw", ["fbmneg 100 s", "fbmneg 1000 p"]),
]


def main(argv: list[str]) -> int:
    import os

    os.environ.setdefault("AG_EMU_TIMEOUT", "30")  # a mutant that hangs is caught by the watchdog
    pick = [m for m in MUTANTS if not argv or any(a in m[0] for a in argv)]
    root = emu.ROOT
    with tempfile.TemporaryDirectory(prefix="ag-mutants-") as tmp:
        tree = Path(tmp) / "src"
        shutil.copytree(root / "csrc", tree / "csrc")
        build = Path(tmp) / "build"
        t = time.time()
        exe = emu.build_tree(tree, build)
        print(f"baseline build {time.time() - t:.0f} s")
        base = emu.run(exe, [(f"c{i}", c) for i, m in enumerate(pick) for c in m[4]][:1])
        assert all(s == "ok" for s, _ in base.values()), f"the unmutated tree fails: {base}"
        missed = []
        for name, rel, old, new, cases in pick:
            f = tree / "csrc" / rel
            text = (root / "csrc" / rel).read_text()
            if text.count(old) != 1:
                print(f"!! {name}: the text to mutate occurs {text.count(old)} times in csrc/{rel}")
                missed.append(name)
                continue
            f.write_text(text.replace(old, new))
            t = time.time()
            try:
                exe = emu.build_tree(tree, build)
                res = emu.run(exe, [(f"m{i}", c) for i, c in enumerate(cases)])
            finally:
                f.write_text(text)
            caught = [(c, res[f"m{i}"]) for i, c in enumerate(cases) if res[f"m{i}"][0] != "ok"]
            verdict = "caught" if caught else "NOT CAUGHT"
            print(f"{verdict:10s} {name}  ({time.time() - t:.0f} s)")
            for c, (status, detail) in caught:
                first = detail.strip().splitlines()[0] if detail.strip() else ""
                if status == "crash":
                    first = next((ln.strip() for ln in detail.splitlines()
                                  if "ERROR: AddressSanitizer" in ln or "runtime error" in ln), first)
                print(f"           {c}: {status}: {first[:160]}")
            if not caught:
                missed.append(name)
        exe = emu.build_tree(tree, build)  # leave nothing mutated behind
    if missed:
        print(f"{len(missed)} mutant(s) not caught: {missed}")
        return 1
    print(f"all {len(pick)} mutants caught")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
