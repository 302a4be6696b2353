import numpy as np, time, sys, os
from numpyae.datasets import load_patches
from numpyae.models.autoencoder import SparseAutoencoder
from numpyae import Adam, fit
from numpyae.plotting import plot_filters
from numpyae.metrics import localization_score
import matplotlib; matplotlib.use("Agg")
whiten, ds, lr, ep, bs, tag = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
X = load_patches(10000, whiten=bool(whiten), downsample=ds, seed=0)
m = SparseAutoencoder([64, 25], rng=0)
opt = Adam(m.parameters(), lr=lr)
t=time.time()
h = fit(m, X, opt, epochs=ep, batch_size=bs, seed=0, progress=False)
print(tag, f"{time.time()-t:.1f}s", {k: round(v[-1],4) for k, v in h.records.items()}, "mean act", m.encode(X).mean())
W = m.encoder.layers[0].W.value
ax = plot_filters(W, title=tag); ax.figure.savefig(f"/tmp/filters_{tag}.png")
print("loc", localization_score(W).mean(), "random", localization_score(np.random.default_rng(0).standard_normal((64, 2000))).mean())
print([round(x,4) for x in h["loss"][::max(1,ep//8)]])
