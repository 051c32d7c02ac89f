"""TensorBoard: scalars, weight histograms and the model summary as real TensorBoard event files."""
import os

import numpy as np

from tinydl.callbacks.callback import Callback
from tinydl.io.tensorboard import EventFileWriter

__all__ = ["TensorBoard"]


class TensorBoard(Callback):
    """Keras 3 TensorBoard logging, without TensorFlow.

    Epoch scalars go to `log_dir/train` (`epoch_loss`, `epoch_accuracy`, `epoch_learning_rate`, ...)
    and, when there is validation data, to `log_dir/validation` under the same tags (the `val_`
    prefix dropped). With an integer `update_freq`, `batch_<metric>` scalars are written every that
    many batches. Every `histogram_freq` epochs each weight gets a histogram; with `write_graph`
    the model summary is written as text. Open with `tensorboard --logdir <log_dir>`.
    """

    rank_zero_only = True  # writes files or prints: rank 0 only under data-parallel training

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        if update_freq != "epoch" and not (isinstance(update_freq, int) and update_freq > 0):
            raise ValueError(f"update_freq must be 'epoch' or a positive integer, got {update_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.update_freq = update_freq
        self._writers = {}
        self._train_step = 0

    def _writer(self, name):
        """The event writer for `train` or `validation`, made on first use."""
        if name not in self._writers:
            self._writers[name] = EventFileWriter(os.path.join(self.log_dir, name))
        return self._writers[name]

    def on_train_begin(self, logs=None):
        self._train_step = 0
        if self.write_graph:
            lines = []
            self.model.summary(print_fn=lines.append)
            self._writer("train").text("keras/model_summary", "```\n" + "\n".join(lines) + "\n```", step=0)

    def on_train_batch_end(self, batch, logs=None):
        self._train_step += 1
        if self.update_freq != "epoch" and self._train_step % self.update_freq == 0:
            writer = self._writer("train")
            for name, value in (logs or {}).items():
                if _is_number(value):
                    writer.scalar(f"batch_{name}", value, self._train_step)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        if "learning_rate" not in train and getattr(self.model, "optimizer", None) is not None:
            train["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        for writer_name, values in (("train", train), ("validation", val)):
            if values:
                writer = self._writer(writer_name)
                for name, value in values.items():
                    if _is_number(value):
                        writer.scalar(f"epoch_{name}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            writer = self._writer("train")
            for w in self.model.weights:
                writer.histogram(w.path.replace(":", "_"), w.numpy(), epoch)

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _is_number(value):
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False
