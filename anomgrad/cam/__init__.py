"""Grad-CAM over time (docs/method.md §4).

``ag.gradcam(model, x, layer="layer4", target=y)`` returns one map per trajectory over
its T time steps (:mod:`.explain`, the model side: closed-form or autograd channel
weights); the map itself comes from one fused C++/CUDA kernel (:mod:`.kernel`);
``anomgrad gradcam`` runs a dataset file through a checkpoint (:mod:`.files`).
"""

from .files import run_file, trajectory_figure
from .explain import CamResult, gradcam, gradcam_full, layer_names
from .kernel import UPSAMPLE, cam_nearest_index, fused, torch_composition

__all__ = ["CamResult", "UPSAMPLE", "cam_nearest_index", "fused", "gradcam", "gradcam_full",
           "layer_names", "run_file", "torch_composition", "trajectory_figure"]
