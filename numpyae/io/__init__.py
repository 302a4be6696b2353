"""Persistence: models and training checkpoints as single .npz files, never pickle."""
from .files import ModelFileError, load, read_checkpoint, restore_checkpoint, save, save_checkpoint

__all__ = ["ModelFileError", "load", "read_checkpoint", "restore_checkpoint", "save",
           "save_checkpoint"]
