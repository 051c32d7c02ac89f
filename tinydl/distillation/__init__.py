"""Knowledge distillation, as Keras 3.15's `keras.distillation`: a Distiller trains a student Model on a weighted
mix of its supervised loss and distillation losses against a frozen teacher."""
from tinydl.distillation.distillation_loss import DistillationLoss, FeatureDistillation, LogitsDistillation
from tinydl.distillation.distiller import Distiller

__all__ = ["DistillationLoss", "FeatureDistillation", "LogitsDistillation", "Distiller"]
