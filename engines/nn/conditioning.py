"""Class embeddings that also take soft class weights (for morphing one class into another)."""

from __future__ import annotations

import torch
from torch import nn


def embed_classes(embedding: nn.Embedding, labels: torch.Tensor) -> torch.Tensor:
    """embedding(labels) for class indices; for float class weights (B, rows) the weighted mix of rows.

    A one-hot row picks exactly that class's row (products with 0 and 1 are exact), so hard and soft
    labels agree bit for bit at the ends of a morph.
    """
    if labels.is_floating_point():
        return labels.to(embedding.weight.dtype) @ embedding.weight
    return embedding(labels)
