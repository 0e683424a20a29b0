"""Test doubles built only from Adobe's documentation, shipped so other projects can reuse them."""
