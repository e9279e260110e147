"""Moved to idff.images; this path stays for one release."""

from idff.images.config import (
    IDFF_ONLY_OVERRIDES,
    MODEL_SIZES,
    TRAIN_KEYS,
    image_run_config,
    per_rank_batch,
    train_config_from,
)
from idff.images.grid import write_grid as save_grid
from idff.images.kind import KIND, is_image_run, load_image_model
from idff.images.published import (
    PUBLISHED_SIGMA,
    infer_unet_layout,
    load_published,
    published_model_config,
)
from idff.images.report import dry_run_report
from idff.images.sample import (
    SEED_STRIDE,
    check_conditioning,
    image_samples,
    sample_images,
    sample_seed,
    source_noise,
)
from idff.images.train import build_run, grid_callback, train_images

__all__ = ["image_run_config", "train_config_from", "per_rank_batch", "build_run",
           "dry_run_report", "train_images", "is_image_run", "load_image_model",
           "load_published", "published_model_config", "infer_unet_layout", "sample_seed",
           "source_noise", "sample_images", "image_samples", "check_conditioning", "save_grid",
           "grid_callback", "MODEL_SIZES", "TRAIN_KEYS", "IDFF_ONLY_OVERRIDES",
           "PUBLISHED_SIGMA", "SEED_STRIDE", "KIND"]
