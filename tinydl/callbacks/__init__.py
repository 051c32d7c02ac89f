"""Callbacks, Keras 3 semantics: hooks around training, evaluation and prediction."""
from tinydl.callbacks.callback import Callback  # noqa: F401
from tinydl.callbacks.callback_list import CallbackList  # noqa: F401
from tinydl.callbacks.history import History  # noqa: F401
from tinydl.callbacks.progbar import Progbar, ProgbarLogger  # noqa: F401
from tinydl.callbacks.monitor import MonitorCallback  # noqa: F401
from tinydl.callbacks.early_stopping import EarlyStopping  # noqa: F401
from tinydl.callbacks.model_checkpoint import ModelCheckpoint  # noqa: F401
from tinydl.callbacks.reduce_lr import LearningRateScheduler, ReduceLROnPlateau  # noqa: F401
from tinydl.callbacks.tensorboard import TensorBoard  # noqa: F401
from tinydl.callbacks.backup_and_restore import BackupAndRestore  # noqa: F401
from tinydl.callbacks.simple import CSVLogger, LambdaCallback, TerminateOnNaN  # noqa: F401
from tinydl.callbacks.swap_ema_weights import SwapEMAWeights  # noqa: F401
from tinydl.callbacks.remote_monitor import RemoteMonitor  # noqa: F401
