"""stardomain: do deep-network solutions form a star domain? (Sonthalia et al., ICLR 2025)."""

__version__ = "0.1.0"
