"""Your own tracks: read them, check them, classify and explain them (``ag.classify``,
``anomgrad classify``).

``ag.classify(tracks)`` takes tracks in any form :mod:`.inputs` reads (a tracking CSV, a
file of another supported format, arrays, a list of arrays, a DataFrame) and returns a
:class:`ClassifyResult` with one entry per input track, in input order: its status (every
track is listed; those ResAnDi cannot classify say why, see :mod:`.checks`), the
probabilities of the 8 classes, the predicted class, the alpha range that class was
trained on, and, with ``gradcam=True``, the Grad-CAM of every step.

* The model is the one that ships with anomgrad (``ag.pretrained()``) unless another
  checkpoint is given.  It runs on the GPU when torch sees one, else on the CPU.
* Preprocessing is the training one: each track (or window of 1000 positions of a longer
  track) is AnDi-normalized over its own length, left-padded with zeros to 1000 steps
  and min-max scaled.  Long tracks: the first window's answer (``run.combine`` says
  why), and each window's own answer in ``windows``.
* Grad-CAM is the paper's: layer 4, signed, nearest upsampling; the true class is
  unknown, so the *predicted* class is the target.  Steps covered by several windows get
  the mean of their maps.

Modules: :mod:`.inputs` (any input as ``Tracks``), :mod:`.checks` (what a track must be,
windows), :mod:`.run` (windows through the network), :mod:`.classify` (the function),
:mod:`.result` (what it returns), :mod:`.outputs` (the files the command writes).
Importing this package or :mod:`.inputs` does not import torch (``anomgrad convert``).
"""
