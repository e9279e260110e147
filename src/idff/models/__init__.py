"""Networks: backbones know nothing of the method; ``TwoHead`` turns one into IDFF's heads,
``GuidedNet`` adds classifier-free guidance, ``SSTNet`` pads gridded fields for a UNet,
``XTAdapter`` takes networks written as ``forward(x, t, **extras)``."""

from idff.models import unet as _unet  # noqa: F401  (registers backbone "unet")
from idff.models.adapters import XTAdapter
from idff.models.factory import build_model, register_backbone
from idff.models.guidance import GuidedNet
from idff.models.heads import TwoHead
from idff.models.mlp import MLP, TimeEmbedding
from idff.models.sst import SSTNet, build_sst_model, pad_size

__all__ = ["TwoHead", "GuidedNet", "SSTNet", "MLP", "TimeEmbedding", "build_model",
           "build_sst_model", "pad_size", "register_backbone", "XTAdapter"]
