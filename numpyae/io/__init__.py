"""Persistence: models and training checkpoints as single .npz files, never pickle.

npz    the container: atomic saves that keep permissions and clean up after themselves,
       bounded reads (one memory budget per file)
files  models (architecture JSON + parameters) and training checkpoints on top of it
"""
from .npz import ModelFileError, check_save_path
from .files import load, read_checkpoint, restore_checkpoint, save, save_checkpoint

__all__ = ["ModelFileError", "check_save_path", "load", "read_checkpoint", "restore_checkpoint",
           "save", "save_checkpoint"]
