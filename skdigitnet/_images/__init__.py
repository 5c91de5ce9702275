"""Digit images: reading image files, and DigitNormalizer (paper, ink, MNIST's geometry)."""
