"""Readers of the paper's datasets in torchvision's on-disk formats (see `stardomain.data`)."""
