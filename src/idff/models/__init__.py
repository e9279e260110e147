"""Networks: backbones know nothing of the method; ``TwoHead`` turns one into IDFF's heads."""

from idff.models import unet as _unet  # noqa: F401  (registers backbone "unet")
from idff.models.factory import build_model, register_backbone
from idff.models.heads import TwoHead
from idff.models.mlp import MLP, TimeEmbedding

__all__ = ["TwoHead", "MLP", "TimeEmbedding", "build_model", "register_backbone"]
