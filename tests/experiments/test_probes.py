"""Linear probes: the paper's groupings, balancing by undersampling, the feature cuts,
the probe itself and t-SNE.  The whole experiment runs in tests/test_reproduce.py."""

import numpy as np
import pytest
import torch

from anomgrad.experiments import probes as P
from anomgrad.resandi.task import CLASS_NAMES
from anomgrad.resandi.nn import ResAnDi


def test_groupings_are_the_papers():
    name = {c: n for c, n in enumerate(CLASS_NAMES)}
    want = {  # docs/method.md §5, by class names
        1: [{"sub-ATTM", "sub-CTRW"}, {"sub-FBM"}, {"super-FBM", "super-LW"},
            {"sub-SBM", "super-SBM", "BM"}],
        2: [{"sub-FBM"}, {"super-FBM"}, {"super-LW"}, {"sub-ATTM"}, {"sub-CTRW"},
            {"sub-SBM", "super-SBM", "BM"}],
        3: [{n} for n in CLASS_NAMES],
    }
    for k, spec in P.BLOCKS.items():
        assert spec["layer"] == f"layer{k}"
        assert [{name[c] for c in g} for g in spec["groups"]] == want[k]
        assert len(spec["names"]) == len(spec["groups"])
    assert [P.BLOCKS[k]["paper"] for k in (1, 2, 3)] == [89.44, 86.91, 93.24]


def test_group_labels_maps_every_class():
    labels = np.arange(8).repeat(3)
    g1 = P.group_labels(labels, P.BLOCKS[1]["groups"])
    np.testing.assert_array_equal(g1[::3], [0, 0, 1, 3, 2, 2, 3, 3])
    g2 = P.group_labels(labels, P.BLOCKS[2]["groups"])
    np.testing.assert_array_equal(g2[::3], [3, 4, 0, 5, 1, 2, 5, 5])
    np.testing.assert_array_equal(P.group_labels(labels, P.BLOCKS[3]["groups"]), labels)
    with pytest.raises(ValueError, match="no group"):
        P.group_labels(np.array([0, 1, 2]), ((0,), (1,)))
    with pytest.raises(ValueError, match="disjoint"):
        P.group_labels(np.array([0, 1]), ((0, 1), (1,)))


def test_balance_undersamples_to_the_smallest_group(rng):
    labels = rng.permutation(np.repeat(np.arange(8), [30, 31, 25, 40, 33, 27, 29, 35]))
    for k, spec in P.BLOCKS.items():
        g = P.group_labels(labels, spec["groups"])
        ng = len(spec["groups"])
        keep = P.balance(g, ng, seed=1, stream=k)
        counts = np.bincount(g[keep], minlength=ng)
        assert np.all(counts == np.bincount(g, minlength=ng).min())  # smallest group's size
        assert np.unique(keep).size == keep.size and np.all(np.diff(keep) > 0)
        np.testing.assert_array_equal(keep, P.balance(g, ng, seed=1, stream=k))
    g = P.group_labels(labels, P.BLOCKS[1]["groups"])
    # block 1: {sub-FBM} (25 rows) is the smallest group; a merged group keeps a mix
    keep = P.balance(g, 4, seed=0)
    assert np.bincount(g[keep]).tolist() == [25, 25, 25, 25]
    assert set(labels[keep][g[keep] == 3]) > {3}
    assert not np.array_equal(keep, P.balance(g, 4, seed=1))
    with pytest.raises(ValueError, match="group 2 has no rows"):
        P.balance(np.array([0, 1, 1, 3]), 4, seed=0)


def test_feature_cuts_shapes_and_values():
    torch.manual_seed(0)
    m = ResAnDi(width=4).eval()
    x = torch.rand(7, 2, 1000).numpy()
    f = P.pooled_features(m, x, batch_size=3)
    assert {k: v.shape for k, v in f.items()} == {"layer1": (7, 4), "layer2": (7, 8),
                                                  "layer3": (7, 16), "layer4": (7, 32)}
    with torch.no_grad():
        for layer, v in f.items():
            ref = m.forward_features(torch.from_numpy(x), layer).mean(-1).numpy()
            np.testing.assert_allclose(v, ref, rtol=1e-5, atol=1e-6)
        # layer4 pooled = the network's own avgpool features
        np.testing.assert_allclose(f["layer4"], m.forward_features(torch.from_numpy(x),
                                                                   "avgpool").numpy(),
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="unknown layer"):
        P.pooled_features(m, x, ("layer9",))


def test_probe_learns_a_linear_rule(rng):
    n, C = 3000, 6
    centres = rng.normal(size=(4, C)) * 3
    g = rng.integers(0, 4, n)
    f = centres[g] + rng.normal(size=(n, C))
    r = P.train_probe(f[:2000], g[:2000], f[2000:], g[2000:], 4, epochs=40, lr=1e-2,
                      batch_size=256, seed=0)
    assert r["accuracy"] > 90 and len(r["history"]) == 40
    noise = rng.normal(size=(n, C))  # features that say nothing about the groups
    blind = P.train_probe(noise[:2000], g[:2000], noise[2000:], g[2000:], 4, epochs=40,
                          lr=1e-2, batch_size=256, seed=0)
    assert blind["accuracy"] < 35  # about chance (25 %)
    again = P.train_probe(f[:2000], g[:2000], f[2000:], g[2000:], 4, epochs=40, lr=1e-2,
                          batch_size=256, seed=0)
    assert again["accuracy"] == r["accuracy"]
    with pytest.raises(ValueError, match="lr"):
        P.train_probe(f, g, f, g, 4, lr=0)
    with pytest.raises(ValueError, match="epochs"):
        P.train_probe(f, g, f, g, 4, epochs=0)


def test_tsne_embedding(rng):
    f = np.concatenate([rng.normal(size=(40, 5)), rng.normal(size=(40, 5)) + 8])
    e = P.tsne_embed(f, seed=0)
    assert e.shape == (80, 2) and np.isfinite(e).all()
    np.testing.assert_array_equal(e, P.tsne_embed(f, seed=0))
    # two well separated clusters stay separated
    a, b = e[:40].mean(0), e[40:].mean(0)
    spread = max(e[:40].std(0).max(), e[40:].std(0).max())
    assert np.linalg.norm(a - b) > 3 * spread
    with pytest.raises(ValueError, match="at least 5"):
        P.tsne_embed(f[:3])
