"""The ADM-style UNet of the published image models, as an ``idff`` backbone ``"unet"``.

The network itself is the ``torchcfm`` package's ``UNetModel`` (Dhariwal & Nichol's ADM
UNet with a continuous time embedding), so its ``state_dict`` keys are those of the
published checkpoints (docs/METHOD.md, "Published checkpoints"). :class:`UNet` only adds
what ``idff`` needs around it:

* the call convention ``net(t, x, cond)`` with ``t`` of shape ``(B,)`` in ``[0, 1]``;
* spatial conditioning: ``cond_channels`` extra input channels, a tensor
  ``(B, cond_channels, H, W)`` concatenated to ``x`` (previous frames, masks, ...);
* class conditioning: ``num_classes`` labels ``(B,)`` added to the time embedding, with
  label dropout for classifier-free guidance (label ``num_classes`` means "no label");
* output channels ``out_mult × in_channels`` (``out_mult = 2`` under
  :class:`~idff.models.TwoHead`), and ``in_mult`` copies of the input for the published
  ``cat(x_t, x_t)`` layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from idff.models.factory import register_backbone

__all__ = ["UNet", "unet_backbone", "split_cond", "parse_attention", "check_width"]

#: the ADM UNet normalises with GroupNorm of this many groups at every level
GROUPS = 32


def check_width(num_channels: Any, channel_mult: Sequence[float],
                option: str = "model.num_channels") -> None:
    """Refuse a width whose levels GroupNorm cannot split into :data:`GROUPS` groups."""
    from idff.errors import ConfigError

    bad = [m for m in channel_mult if int(m * num_channels) % GROUPS]
    if isinstance(num_channels, int) and num_channels > 0 and bad:
        raise ConfigError(f"{option} {num_channels}: every level's width (num_channels × "
                          f"channel_mult {tuple(channel_mult)}) must be a multiple of {GROUPS} "
                          f"for the UNet's GroupNorm; use {option} 32, 64, 96, 128, ...")


def _size(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    size = tuple(int(s) for s in image_size)
    if len(size) != 2:
        raise ValueError(f"image_size must be an int or (H, W), got {image_size!r}.")
    return size  # type: ignore[return-value]


def parse_attention(attention_resolutions: str | Sequence[int], size: int) -> tuple[int, ...]:
    """Resolutions (e.g. ``"16,8"`` for a 32×32 model) → downsample rates (``(2, 4)``).

    Args:
        attention_resolutions: feature-map sizes at which self-attention is used, as a
            comma-separated string (the published format) or a sequence of ints; empty for none.
        size: the image size (the smaller side for non-square images).
    """
    if isinstance(attention_resolutions, str):
        parts = [p for p in attention_resolutions.replace(" ", "").split(",") if p]
    else:
        parts = list(attention_resolutions)
    rates = []
    for p in parts:
        res = int(p)
        if res <= 0 or size % res:
            raise ValueError(
                f"attention resolution {res} does not divide the image size {size}; use "
                "feature-map sizes the UNet reaches, e.g. '16' for 32×32 images."
            )
        rates.append(size // res)
    return tuple(rates)


def split_cond(cond: Any, has_labels: bool, has_image: bool) -> tuple[Tensor | None, Tensor | None]:
    """Split ``cond`` into ``(image_cond, labels)`` for a UNet's configuration.

    Accepted forms: a labels tensor ``(B,)`` (class models), an image tensor
    ``(B, cond_channels, H, W)`` (spatially conditioned models), a tuple ``(image, labels)``
    or a dict with keys ``"image"`` and ``"labels"`` (both), or ``None``.
    """
    if cond is None:
        return None, None
    if isinstance(cond, dict):
        return cond.get("image"), cond.get("labels")
    if isinstance(cond, (tuple, list)):
        if len(cond) != 2:
            raise ValueError("a tuple cond must be (image_cond, labels).")
        return cond[0], cond[1]
    if not torch.is_tensor(cond):
        raise TypeError(f"cond must be a tensor, a tuple or a dict, got {type(cond).__name__}.")
    if has_labels and not has_image:
        return None, cond
    if has_image and not has_labels:
        return cond, None
    if cond.dim() == 1:
        return None, cond
    return cond, None


class UNet(nn.Module):
    """ADM UNet backbone ``UNet(t, x, cond) -> y``, ``x`` of shape ``(B, C, H, W)``.

    Args:
        in_channels: data channels ``C``.
        image_size: ``H`` (square) or ``(H, W)``; both must be divisible by
            ``2**(len(channel_mult) - 1)``.
        out_mult: output channels are ``out_mult × in_channels``.
        num_channels: base width of the UNet.
        num_res_blocks: residual blocks per resolution.
        channel_mult: width multiplier per resolution level.
        attention_resolutions: feature-map sizes with self-attention (``"16"`` or ``(16, 8)``).
        num_heads: attention heads (ignored when ``num_head_channels > 0``).
        num_head_channels: channels per attention head (``-1``: use ``num_heads``).
        dropout: dropout rate in the residual blocks.
        cond_channels: extra input channels taken from ``cond`` ``(B, cond_channels, H, W)``.
        num_classes: number of class labels (``None``: unconditional). One extra "null"
            label (index ``num_classes``) is reserved for classifier-free guidance.
        class_dropout: probability of replacing a label by the null label in training.
        in_mult: copies of ``x`` the network sees (2 for the published checkpoints, whose
            first layer takes ``cat(x_t, x_t)``; :class:`~idff.models.TwoHead` with
            ``duplicate_input=True`` does the copying).
        use_scale_shift_norm, resblock_updown, num_heads_upsample, use_new_attention_order,
        use_checkpoint: passed to the ADM UNet unchanged.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int | Sequence[int],
        out_mult: int = 1,
        num_channels: int = 128,
        num_res_blocks: int = 2,
        channel_mult: Sequence[float] = (1, 2, 2, 2),
        attention_resolutions: str | Sequence[int] = "16",
        num_heads: int = 4,
        num_head_channels: int = 64,
        dropout: float = 0.1,
        cond_channels: int = 0,
        num_classes: int | None = None,
        class_dropout: float = 0.1,
        in_mult: int = 1,
        use_scale_shift_norm: bool = False,
        resblock_updown: bool = False,
        num_heads_upsample: int = -1,
        use_new_attention_order: bool = False,
        use_checkpoint: bool = False,
    ):
        super().__init__()
        from torchcfm.models.unet.unet import UNetModel

        h, w = _size(image_size)
        levels = len(channel_mult)
        if h % 2 ** (levels - 1) or w % 2 ** (levels - 1):
            raise ValueError(
                f"image size {h}×{w} is not divisible by 2^{levels - 1} (channel_mult has "
                f"{levels} levels); pad the images or use fewer levels."
            )
        check_width(num_channels, channel_mult)
        if in_channels < 1 or out_mult < 1 or in_mult < 1 or cond_channels < 0:
            raise ValueError("in_channels, out_mult and in_mult must be >= 1, cond_channels >= 0.")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes must be >= 1 or None, got {num_classes}.")
        self.in_channels, self.image_size = in_channels, (h, w)
        self.in_mult, self.out_mult = in_mult, out_mult
        self.cond_channels, self.num_classes = cond_channels, num_classes
        self.class_dropout = float(class_dropout)
        self.net = UNetModel(
            image_size=h,
            in_channels=in_mult * in_channels + cond_channels,
            model_channels=num_channels,
            out_channels=out_mult * in_channels,
            num_res_blocks=num_res_blocks,
            attention_resolutions=parse_attention(attention_resolutions, min(h, w)),
            dropout=dropout,
            channel_mult=tuple(channel_mult),
            num_classes=None if num_classes is None else num_classes + 1,
            use_checkpoint=use_checkpoint,
            num_heads=num_heads,
            num_head_channels=num_head_channels,
            num_heads_upsample=num_heads_upsample,
            use_scale_shift_norm=use_scale_shift_norm,
            resblock_updown=resblock_updown,
            use_new_attention_order=use_new_attention_order,
        )

    @property
    def null_label(self) -> int | None:
        """The label index meaning "unconditional" (classifier-free guidance)."""
        return self.num_classes

    def _check(self, x: Tensor) -> None:
        c = self.in_mult * self.in_channels
        if x.dim() != 4 or x.shape[1] != c or tuple(x.shape[2:]) != self.image_size:
            h, w = self.image_size
            raise ValueError(
                f"UNet expects x of shape (B, {c}, {h}, {w}), got {tuple(x.shape)}; build it "
                "with the data's in_channels and image_size."
            )

    def forward(self, t: Tensor, x: Tensor, cond: Any = None) -> Tensor:
        """Apply the UNet.

        Args:
            t: times ``(B,)`` in ``[0, 1]`` (or a scalar).
            x: inputs ``(B, in_mult·C, H, W)``.
            cond: see :func:`split_cond`; labels may be omitted (null label).

        Returns:
            ``(B, out_mult·C, H, W)``.
        """
        self._check(x)
        b = x.shape[0]
        if not torch.is_tensor(t) or t.dim() == 0:
            t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(b)
        image, labels = split_cond(cond, self.num_classes is not None, self.cond_channels > 0)
        if self.cond_channels:
            want = (b, self.cond_channels, *self.image_size)
            if image is None or tuple(image.shape) != want:
                got = None if image is None else tuple(image.shape)
                raise ValueError(
                    f"this UNet was built with cond_channels={self.cond_channels}; pass cond of "
                    f"shape {want}, got {got}."
                )
            x = torch.cat([x, image.to(x.dtype)], dim=1)
        elif image is not None:
            raise ValueError(
                "got an image cond but this UNet has cond_channels=0; build it with "
                "cond_channels=<channels of cond>."
            )
        y = None
        if self.num_classes is not None:
            if labels is None:
                y = torch.full((b,), self.num_classes, dtype=torch.long, device=x.device)
            else:
                y = labels.to(device=x.device, dtype=torch.long).reshape(-1)
                if y.shape[0] != b or bool(((y < 0) | (y > self.num_classes)).any()):
                    raise ValueError(
                        f"labels must have shape ({b},) with values in [0, {self.num_classes}] "
                        f"({self.num_classes} = unconditional)."
                    )
                if self.training and self.class_dropout > 0:
                    drop = torch.rand(b, device=x.device) < self.class_dropout
                    y = torch.where(drop, torch.full_like(y, self.num_classes), y)
        elif labels is not None:
            raise ValueError(
                "got class labels but this UNet is unconditional; build it with num_classes."
            )
        return self.net(t.reshape(-1), x, y=y)


def unet_backbone(out_mult: int, **kwargs: Any) -> UNet:
    """Builder registered as backbone ``"unet"`` (see :func:`~idff.models.build_model`)."""
    return UNet(out_mult=out_mult, **kwargs)


register_backbone("unet", unet_backbone, accepts=UNet)
