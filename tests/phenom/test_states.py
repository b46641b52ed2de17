"""The AnDi 2 state models (single_state, multi_state): every trajectory equals the
slow reference written from docs/phenom.md with the same random numbers; the RNG
contract (shards, float32); labels per frame; andi-datasets' layout both ways; bad
parameters refused by name."""

import numpy as np
import pytest

import anomgrad as ag
from anomgrad.phenom import from_andi, parameters, to_andi
from reference import ref_confinement, ref_dimers, ref_states, ref_traps

CASES = {
    "single-white": ("single_state", 2, {}),
    "single-spread-3d": ("single_state", 3, {"alphas": [0.6, 0.2], "Ds": [1.0, 0.3]}),
    "single-box": ("single_state", 2, {"alphas": [1.95, 0.001], "Ds": [2.0, 0.0], "L": 3.0}),
    "multi-default": ("multi_state", 2, {}),
    "multi-three": ("multi_state", 2, {
        "M": [[0.8, 0.1, 0.1], [0.05, 0.9, 0.05], [0.2, 0.0, 0.8]],
        "alphas": [[1.5, 0.02], [1.0, 0.02], [0.5, 0.02]], "epsilon_a": [0.2, 0.2],
        "Ds": [[1.0, 0.02], [0.5, 0.01], [0.1, 0.001]], "gamma_d": [0.8, 0.8], "L": 8.0,
        "init_state": 2}),
    "multi-gamma-up": ("multi_state", 1, {"M": [[0.7, 0.3], [0.3, 0.7]],
                                          "alphas": [0.3, [1.7, 0.05]],
                                          "Ds": [[0.2, 0.05], [1.0, 0.5]], "gamma_d": [2.0]}),
}


@pytest.mark.parametrize("case", CASES)
def test_every_trajectory_is_the_reference(case):
    model, dim, params = CASES[case]
    T, seed, start = 90, 11, 3
    x, lab = ag.generate(model, 12, T, dim=dim, seed=seed, start=start, dtype=np.float64,
                         **params)
    kw = parameters(model, params)
    for i in range(12):
        rx, rl = ref_states(seed, start + i, T, dim, kw["cdf"], kw["a_mean"], kw["a_sd"],
                            kw["d_mean"], kw["d_sd"], kw["eps"], kw["gam"], kw["box"],
                            kw["init_state"])
        np.testing.assert_array_equal(lab[i], rl)
        np.testing.assert_allclose(x[i], rx, rtol=1e-9, atol=1e-9 * max(1, np.abs(rx).max()))
    if "L" in params:
        assert x.min() >= 0 and x.max() <= params["L"]
    switches = (lab[:, 3, 1:] != lab[:, 3, :-1]).sum()
    assert (switches > 0) == (model == "multi_state")


TRAPS = {"L": 6.0, "r": 1.0, "Pb": 0.4, "Pu": 0.1, "traps_pos": [[1.0, 1.0], [3.0, 4.5],
                                                                   [5.0, 2.0]]}


@pytest.mark.parametrize("params", [{**TRAPS, "alphas": [0.7, 0.05], "Ds": [1.0, 0.1]},
                                    TRAPS, {**TRAPS, "alphas": 1.95}],
                         ids=["fgn", "white", "directed"])
def test_immobile_traps_trajectories_are_the_reference(params):
    T, seed, start = 120, 8, 2
    x, lab = ag.generate("immobile_traps", 10, T, seed=seed, start=start, dtype=np.float64,
                         **params)
    kw = parameters("immobile_traps", params)
    for i in range(10):
        rx, rl = ref_traps(seed, start + i, T, kw["traps"], kw["a_mean"][0], kw["a_sd"][0],
                           kw["d_mean"][0], kw["d_sd"][0], kw["box"], kw["r"], kw["Pu"],
                           kw["Pb"])
        np.testing.assert_array_equal(lab[i], rl)
        np.testing.assert_allclose(x[i], rx, rtol=1e-9, atol=1e-9 * max(1, np.abs(rx).max()))
    trapped = lab[:, 3] == 1
    assert 0.1 < trapped.mean() < 0.9  # the test sees both states
    assert (np.diff(x, axis=-1)[np.broadcast_to(trapped[:, None, 1:], (10, 2, T - 1))] == 0).all()


def test_the_traps_come_from_the_seed_alone():
    p = {k: v for k, v in TRAPS.items() if k != "traps_pos"}
    a = ag.generate("immobile_traps", 30, 50, seed=3, Nt=4, **p, dtype=np.float64)
    b = ag.generate("immobile_traps", 6, 50, seed=3, start=20, Nt=4, **p, dtype=np.float64)
    np.testing.assert_array_equal(a[0][20:26], b[0]), np.testing.assert_array_equal(a[1][20:26], b[1])
    from anomgrad.phenom.traps import field
    from anomgrad.models._common import seed_words
    traps = field(seed_words(3), 4, 6.0, 96)
    c = ag.generate("immobile_traps", 30, 50, seed=3, traps_pos=traps, **p, dtype=np.float64)
    np.testing.assert_array_equal(a[0], c[0])
    assert (traps >= 0).all() and (traps < 6).all() and len(np.unique(traps)) == 8


CONF = {"L": 12.0, "r": 2.0, "trans": 0.3, "Ds": [[1.0, 0.1], [0.3, 0.01]],
        "comp_center": [[3.0, 3.0], [8.0, 4.0], [5.0, 9.0]]}


@pytest.mark.parametrize("params", [{**CONF, "alphas": [[1.3, 0.01], [0.6, 0.01]]}, CONF,
                                    {**CONF, "trans": 0.0, "alphas": [1.0, 1.7]}],
                         ids=["fgn", "white", "walls"])
def test_confinement_trajectories_are_the_reference(params):
    """Against a reference that reflects off the circles by andi-datasets' own
    construction (rotating the radius), not the kernel's specular formula."""
    T, seed, start = 150, 6, 4
    x, lab = ag.generate("confinement", 10, T, seed=seed, start=start, dtype=np.float64,
                         **params)
    for i in range(10):
        a, D = lab[i, 0][lab[i, 3] == 0], lab[i, 1][lab[i, 3] == 0]
        a2, D2 = lab[i, 0][lab[i, 3] == 1], lab[i, 1][lab[i, 3] == 1]
        kw = parameters("confinement", params)  # the states' draws, from the reference
        st = ref_states(seed, start + i, 2, 1, np.eye(2), kw["a_mean"], kw["a_sd"],
                        kw["d_mean"], kw["d_sd"], kw["eps"], kw["gam"], 0.0, 0)[1]
        alpha2, D_2 = [st[0, 0], None], [st[1, 0], None]
        st1 = ref_states(seed, start + i, 2, 1, np.eye(2), kw["a_mean"], kw["a_sd"],
                         kw["d_mean"], kw["d_sd"], kw["eps"], kw["gam"], 0.0, 1)[1]
        alpha2[1], D_2[1] = st1[0, 0], st1[1, 0]
        assert (a == alpha2[0]).all() and (D == D_2[0]).all()
        assert (a2 == alpha2[1]).all() and (D2 == D_2[1]).all()
        rx, rl = ref_confinement(seed, start + i, T, params["comp_center"], alpha2, D_2,
                                 params["L"], params["r"], params["trans"])
        np.testing.assert_array_equal(lab[i], rl)
        np.testing.assert_allclose(x[i], rx, rtol=1e-9, atol=1e-8)
    confined = lab[:, 3] == 1
    assert 0.2 < confined.mean() and (~confined).any() and 0 <= x.min() <= x.max() <= params["L"]
    c = np.asarray(params["comp_center"])
    inside = np.linalg.norm(x.transpose(0, 2, 1)[:, :, None] - c, axis=-1).min(-1) <= params["r"]
    assert (inside | ~confined).all()  # a confined frame is inside a compartment
    if params["trans"] == 0:  # never leaves: every track confined from its first entry on
        first = confined.argmax(axis=1)
        assert all(confined[i, first[i]:].all() for i in range(10) if confined[i].any())


def test_each_confinement_track_draws_its_own_field_as_andi():
    p = {"L": 30.0, "Nc": 6, "r": 2.0}
    x, lab = ag.generate("confinement", 40, 60, seed=2, dtype=np.float64, **p)
    x2, lab2 = ag.generate("confinement", 4, 60, seed=2, start=36, dtype=np.float64, **p)
    np.testing.assert_array_equal(x2, x[36:]), np.testing.assert_array_equal(lab2, lab[36:])
    from anomgrad.phenom.confinement import place
    from anomgrad.models._common import seed_words
    c = np.zeros((6, 2))
    assert place(c, 30.0, 2.0, *seed_words(2), np.uint64(5), np.uint32(96)) == 6
    d = np.linalg.norm(c[:, None] - c[None], axis=-1)[np.triu_indices(6, 1)]
    assert d.min() > 4.0 and c.min() >= 2.0 and c.max() <= 28.0
    x5, lab5 = ag.generate("confinement", 1, 60, seed=2, start=5, comp_center=c,
                           dtype=np.float64, **{k: v for k, v in p.items() if k != "Nc"})
    np.testing.assert_array_equal(x5[0], x[5]), np.testing.assert_array_equal(lab5[0], lab[5])
    with pytest.warns(UserWarning, match="only .* of the Nc = 40 compartments"):
        ag.generate("confinement", 3, 20, seed=1, L=10.0, r=2.0, Nc=40)


def test_shards_and_float32():
    """Trajectory i depends on (seed, i) only; float32 is the float64 result rounded."""
    _, _, p = CASES["multi-three"]
    x, lab = ag.generate("multi_state", 40, 120, seed=5, dtype=np.float64, **p)
    x2, lab2 = ag.generate("multi_state", 7, 120, seed=5, start=30, dtype=np.float64, **p)
    np.testing.assert_array_equal(x2, x[30:37]), np.testing.assert_array_equal(lab2, lab[30:37])
    x32, lab32 = ag.generate("multi_state", 40, 120, seed=5, **p)
    assert x32.dtype == lab32.dtype == np.float32
    np.testing.assert_array_equal(x32, x.astype(np.float32))
    np.testing.assert_array_equal(lab32, lab.astype(np.float32))
    assert not np.array_equal(ag.generate("multi_state", 40, 120, seed=6, **p)[0], x32)
    out = (np.empty_like(x32), np.empty_like(lab32))
    got = ag.generate("multi_state", 40, 120, seed=5, out=out, **p)
    assert got[0] is out[0] and np.array_equal(out[0], x32) and np.array_equal(out[1], lab32)


def test_labels_say_each_frame_and_directed_motion():
    x, lab = ag.generate("multi_state", 300, 100, seed=2, M=[[0.9, 0.1], [0.2, 0.8]],
                         alphas=[0.5, 1.95], Ds=[0.1, 1.0], dtype=np.float64)
    state = lab[:, 3].astype(int)
    np.testing.assert_array_equal(lab[:, 0], np.where(state == 0, 0.5, 1.95))
    np.testing.assert_array_equal(lab[:, 1], np.where(state == 0, 0.1, 1.0))
    np.testing.assert_array_equal(lab[:, 2], np.where(state == 0, 2, 3))  # free, directed
    # stationary occupation of the chain: pi = (2/3, 1/3); dwell in state 0 ~ Geometric(0.1)
    assert abs((state == 0).mean() - 2 / 3) < 0.05
    steps = np.diff(x, axis=-1)  # step t - 1 -> t moves with the state at t - 1
    v0 = steps[:, :, :][np.broadcast_to(state[:, None, :-1] == 0, steps.shape)].var()
    assert abs(v0 / (2 * 0.1) - 1) < 0.05  # <dx^2> = 2 D per axis and frame


def test_andi_layout_both_ways():
    x, lab = ag.generate("multi_state", 5, 30, seed=1)
    tr, lb = to_andi(x, lab)
    assert tr.shape == (30, 5, 2) and lb.shape == (30, 5, 3)
    np.testing.assert_array_equal(tr[7, 3], x[3, :, 7])
    x2, lab2 = from_andi(tr, lb)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(lab2[:, :3], lab[:, :3]) and (lab2[:, 3] == -1).all()
    x3, lab3 = from_andi(tr, np.concatenate([lb, lab[:, 3:].transpose(2, 0, 1)], axis=2))
    np.testing.assert_array_equal(lab3, lab)
    with pytest.raises(ValueError, match=r"\(T, N, dim\)"):
        from_andi(tr, lb[:, :4])


@pytest.mark.parametrize("params,match", [
    ({"M": [[0.9, 0.2], [0.1, 0.9]]}, "row 0 sums to 1.1"),
    ({"M": [[0.9, 0.1, 0.0], [0.1, 0.9, 0.0]]}, "square"),
    ({"M": [[1.2, -0.2], [0.1, 0.9]]}, r"\[0, 1\]"),
    ({"Ds": [[-1.0, 0.0], [0.1, 0.0]]}, r"Ds\[0\].*must be > 0"),
    ({"Ds": [1.0, 0.1, 0.3]}, "one entry per state"),
    ({"alphas": [[2.0, 0.1], [1.0, 0.0]]}, r"alphas\[0\].*\(0, 2\)"),
    ({"alphas": [[0.0, 0.0], [1.0, 0.0]]}, r"alphas\[0\].*\(0, 2\)"),
    ({"alphas": [[1.9995, 0.0], [1.0, 0.0]]}, "<= 1.999"),
    ({"alphas": [[1.0, -0.1], [1.0, 0.0]]}, "variance must be >= 0"),
    ({"L": -3}, "L .*must be > 0"),
    ({"init_state": 2}, "init_state"),
    ({"gamma_d": [0.5, 0.5]}, "gamma_d must give 1"),
    ({"alphas": [0.5, 1.5], "epsilon_a": [0.1]}, "epsilon_a: no alpha 100 draws"),
    ({"Ds": [[1.0, 0.0], [1e-12, 0.0]], "gamma_d": [2.0]}, "gamma_d: no D"),
    ({"dt": 1}, "no parameter 'dt'"),
])
def test_bad_parameters_are_refused_by_name(params, match):
    err = TypeError if "dt" in params else ValueError
    with pytest.raises(err, match=match):
        ag.generate("multi_state", 3, 20, **params)


@pytest.mark.parametrize("params,match", [
    ({"trans": 2}, "trans is a probability"),
    ({"r": -1}, "r .*must be > 0"),
    ({"r": 6, "L": 10}, "do not fit"),
    ({"comp_center": [[1, 2, 3]]}, r"comp_center must be finite centres \(Nc, 2\)"),
    ({"Nc": 0}, "Nc"),
    ({"Ds": [1.0, 0.1, 0.2]}, "one entry per state"),
    ({"alphas": [[0.5, 0], [1.0, 0]], "epsilon_a": [0.2]}, "epsilon_a: no alpha"),
])
def test_bad_confinement_parameters_are_refused_by_name(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ag.generate("confinement", 3, 20, **params)


@pytest.mark.parametrize("params,match", [
    ({"Pb": 1.5}, r"Pb is a probability per frame: it must lie in \[0, 1\]"),
    ({"Pu": -0.1}, "Pu is a probability"),
    ({"r": 0}, "r .*must be > 0"),
    ({"L": None}, "L must be a number"),
    ({"L": 0}, "L .*must be > 0, got 0"),
    ({"Nt": -1}, "Nt"),
    ({"traps_pos": [[1, 2, 3]]}, r"traps_pos must be finite positions \(Nt, 2\)"),
    ({"traps_pos": [[1, 2]], "Nt": 3}, "Nt = 3 but traps_pos holds 1"),
    ({"Ds": [0.0, 0.0]}, "must be > 0"),
])
def test_bad_trap_parameters_are_refused_by_name(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ag.generate("immobile_traps", 3, 20, **params)
    with pytest.raises(ValueError, match="two-dimensional"):
        ag.generate("immobile_traps", 3, 20, dim=3)


def test_state_models_refuse_theory_arguments_and_the_reverse():
    with pytest.raises(TypeError, match="alphas="):
        ag.generate("single_state", 3, 20, 0.5)
    with pytest.raises(TypeError, match="no parameter 'Ds'"):
        ag.generate("fbm", 3, 20, 0.5, Ds=[1, 0])
    with pytest.raises(ValueError, match="CPU"):
        ag.generate("multi_state", 3, 20, device="cuda")
    with pytest.raises(ValueError, match="multi_state"):
        ag.generate("multistate", 3, 20)


DIMERS = {"N": 40, "L": 30.0, "r": 1.0, "Pb": 0.5, "Pu": 0.05}


@pytest.mark.parametrize("stokes", [False, True])
def test_dimers_move_together_and_take_their_labels(stokes):
    """A particle bound at frame t took the same step (t - 1 -> t) as exactly one other
    bound particle of its field (its partner), away from the walls; the dimer's D label
    is the dimer state's, or with stokes 1 / (1/D1 + 1/D2) of the two free ones."""
    n, T = 120, 150
    x, lab = ag.generate("dimerization", n, T, seed=4, dtype=np.float64, stokes=stokes,
                         Ds=[1.0, 0.1], alphas=[0.8, 1.2], **DIMERS)
    bound = lab[:, 3] == 1
    assert 0.2 < bound.mean() < 0.9
    steps = np.diff(x, axis=-1)
    # far from the walls (the partner is within 2r, and no step reaches a wall from there)
    inner = ((x[..., 1:] > 6) & (x[..., 1:] < 24)).all(axis=1)
    checked = 0
    for f in range(n // 40):
        rows = slice(40 * f, 40 * f + 40)
        for t in range(1, T):
            b = np.flatnonzero(bound[rows, t])
            for j in np.flatnonzero(bound[rows, t] & inner[rows, t - 1]):
                same = (np.abs(steps[rows][b, :, t - 1] - steps[rows][j, :, t - 1])
                        < 1e-9).all(axis=1)
                assert same.sum() == 2  # itself and its partner (positions differ: rounding)
                checked += 1
    assert checked > 1000
    np.testing.assert_array_equal(lab[:, 0], np.where(bound, 1.2, 0.8))
    np.testing.assert_array_equal(lab[:, 2], 2)
    np.testing.assert_allclose(lab[:, 1], np.where(bound, 0.5 if stokes else 0.1, 1.0))


DENSE = {"N": 10, "L": 8.0, "r": 1.0, "Pb": 0.6, "Pu": 0.1}


@pytest.mark.parametrize("extra", [
    {},
    {"alphas": [[0.6, 0.1], [1.3, 0.1]], "Ds": [[1.0, 0.1], [0.3, 0.01]]},
    {"alphas": [[1.2, 0.05], [0.6, 0.1]], "stokes": True},
    {"alphas": [[1.2, 0.05], [0.8, 0.2]], "epsilon_a": 0.3},
], ids=["white", "correlated", "stokes", "epsilon_a"])
def test_dimer_fields_equal_the_reference(extra):
    """Every particle of two dense fields (10 in L = 8, about two thirds of the frames
    bound) equals tests/reference.py's ref_dimers, written from docs/phenom.md with the
    same random numbers (the full distance matrix instead of the cell list, Cholesky
    factors instead of Durbin-Levinson), to 1e-9."""
    T, seed = 60, 11
    params = {**DENSE, **extra}
    kw = parameters("dimerization", params)
    x, lab = ag.generate("dimerization", 20, T, seed=seed, start=10, dtype=np.float64,
                         **params)
    assert 0.4 < (lab[:, 3] == 1).mean() < 0.9
    for f in (1, 2):
        rx, rl = ref_dimers(seed, f, 10, T, kw["a_mean"], kw["a_sd"], kw["d_mean"],
                            kw["d_sd"], kw["box"], kw["r"], kw["Pu"], kw["Pb"], kw["stokes"],
                            kw["eps_dimer"])
        np.testing.assert_allclose(x[10 * (f - 1):10 * f], rx, rtol=0, atol=1e-9)
        np.testing.assert_allclose(lab[10 * (f - 1):10 * f], rl, rtol=0, atol=1e-9)


def test_a_dimer_alpha_keeps_epsilon_a_below_its_particles():
    """With epsilon_a every new dimer draws its own alpha, at least epsilon_a below the
    free alpha of each of its two particles (andi-datasets' constraint), and both
    particles carry it; epsilon_a = 0 leaves the trajectories as they were."""
    eps, n, T = 0.3, 120, 150
    kw = dict(DIMERS, alphas=[[1.2, 0.1], [0.8, 0.2]])
    x, lab = ag.generate("dimerization", n, T, seed=4, dtype=np.float64, epsilon_a=eps, **kw)
    bound = lab[:, 3] == 1
    assert 0.2 < bound.mean() < 0.9
    free = lab[:, 0, 0]  # every particle starts free
    assert (lab[:, 0][~bound] == np.repeat(free[:, None], T, 1)[~bound]).all()
    assert (lab[:, 0][bound] <= np.repeat(free[:, None], T, 1)[bound] - eps).all()
    pairs = dimer_values = 0
    for f in range(n // 40):
        for t in range(1, T):
            a = lab[40 * f: 40 * f + 40, 0, t][bound[40 * f: 40 * f + 40, t]]
            values, counts = np.unique(a, return_counts=True)
            assert (counts == 2).all()  # each dimer's alpha is its own, shared by two
            pairs += len(values)
            dimer_values += len(np.unique(np.round(values, 12)))
    assert pairs > 1000 and dimer_values == pairs
    # the constraint bites: without it, the dimer state's own alphas (mean 0.8) often
    # lie within eps of the free ones; with it, none does
    x0, lab0 = ag.generate("dimerization", n, T, seed=4, dtype=np.float64, **kw)
    b0 = lab0[:, 3] == 1
    assert (lab0[:, 0][b0] > np.repeat(lab0[:, 0, 0][:, None], T, 1)[b0] - eps).mean() > 0.2
    x00, _ = ag.generate("dimerization", n, T, seed=4, dtype=np.float64, epsilon_a=0.0, **kw)
    np.testing.assert_array_equal(x00, x0)


def test_dimer_fields_are_the_unit_of_the_contract():
    kw = dict(DIMERS, alphas=[[1.2, 0.1], [0.8, 0.2]], epsilon_a=0.2)  # its draws too
    x, lab = ag.generate("dimerization", 120, 60, seed=9, **kw)
    x2, lab2 = ag.generate("dimerization", 40, 60, seed=9, start=80, **kw)
    np.testing.assert_array_equal(x2, x[80:]), np.testing.assert_array_equal(lab2, lab[80:])
    for n, start in [(50, 0), (40, 20)]:
        with pytest.raises(ValueError, match="multiples of N"):
            ag.generate("dimerization", n, 60, start=start, **DIMERS)


@pytest.mark.parametrize("params,match", [
    ({"N": 300, "L": 10.0}, "more than the box"),
    ({"epsilon_a": "0.2"}, "epsilon_a must be a number"),
    ({"N": 30, "alphas": [[0.5, 0], [1.0, 0]], "epsilon_a": 0.2}, "epsilon_a: no alpha 100 draws"),
    ({"stokes": 1}, "stokes must be True or False"),
    ({"Pu": 1.5}, "Pu is a probability"),
    ({"N": 0}, "N"),
])
def test_bad_dimer_parameters_are_refused_by_name(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ag.generate("dimerization", 300, 20, **{**DIMERS, **params})
