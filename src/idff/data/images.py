"""Moved to idff.images.datasets; this path stays for one release."""

from idff.errors import DataError
from idff.images.datasets import (
    CIFAR10_TEST,
    CIFAR10_TRAIN,
    DATASETS,
    IMAGE_EXTS,
    FashionMNIST,
    ImageFolderFlat,
    NumpyImages,
    build_dataset,
    load_celeba64,
    load_cifar10,
    load_imagenet64,
)
from idff.images.pixels import from_model_range, resize_crop, to_model_range

__all__ = ["DATASETS", "DataError", "to_model_range", "from_model_range", "FashionMNIST",
           "NumpyImages", "ImageFolderFlat", "build_dataset", "load_cifar10", "load_celeba64",
           "load_imagenet64", "resize_crop", "IMAGE_EXTS", "CIFAR10_TRAIN", "CIFAR10_TEST"]
