"""Building blocks of the aligner, as named in ``config/*.yaml``.

The backbone, the FPN neck, the corner heatmap head and the heatmap losses live in
Otter (``otter.backbone``, ``otter.corners``), where other tasks that find
quadrilaterals share them; this module makes them findable by name and is the
place for this project's own variants.
"""

from otter.backbone import Backbone
from otter.corners import CornerHeatmapHead, FPNNeck, HeatmapLoss

__all__ = ["Backbone", "FPNNeck", "CornerHeatmapHead", "HeatmapLoss"]
