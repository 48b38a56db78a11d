"""The DRN model: configuration, network, losses and post-processing.

Shapes and units are in each module's docstrings; lengths are in clip units inside the model and
in seconds at its boundaries (`drn_losses` ground truth, `postprocess` output).
"""

from drn.model.config import DRNConfig
from drn.model.drn import DRN, DRNOutput, VideoEncoding
from drn.model.losses import drn_losses
from drn.model.postprocess import postprocess
from drn.model.query_encoder import QueryEncoder, QueryEncoding

__all__ = ["DRN", "DRNConfig", "DRNOutput", "QueryEncoder", "QueryEncoding", "VideoEncoding", "drn_losses",
           "postprocess"]
