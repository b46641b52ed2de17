"""The paper's experiments (docs/experiments.md), each a resumable run that writes JSON,
CSV and PNG beside the published numbers (:mod:`.paper`):

* :mod:`.erasure`: targeted vs random erasure per Grad-CAM band (Fig. 3);
* :mod:`.augment` and :mod:`.noise`: Grad-CAM-guided rotation augmentation and the
  noise-robustness sweep (Fig. 5);
* :mod:`.probes`: layer-wise linear probes and t-SNE;
* :mod:`.relevance`: Grad-CAM against window statistics;
* :mod:`.pipeline` and :mod:`.report`: ``anomgrad reproduce``, the whole chain and its
  report.

Modules load on import of their own (they import torch); this package imports nothing.
"""
