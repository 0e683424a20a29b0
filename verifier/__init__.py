"""verifier: backup verification and catalog for AEP / CJA dataset exports."""

__version__ = "0.1.0"
