"""Every callback at once, on the digits MLP: where each one's output goes and how to look at it.

    python -m tinydl.examples.callbacks_tour [log_dir]
"""
import os
import sys
import tempfile

import tinydl as td
from tinydl import callbacks
from tinydl.datasets import digits
from tinydl.examples.mlp import build_model


def main(epochs=None, verbose=2, log_dir=None):
    """Train with EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, LearningRateScheduler, TensorBoard,
    CSVLogger, BackupAndRestore, TerminateOnNaN and LambdaCallback; print where the logs went."""
    td.set_seed(0)
    log_dir = log_dir or tempfile.mkdtemp(prefix="tinydl_tour_")
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    best_epochs = []
    tour = [
        callbacks.EarlyStopping(monitor="val_accuracy", patience=5, restore_best_weights=True),
        callbacks.ModelCheckpoint(os.path.join(log_dir, "best.keras"), monitor="val_accuracy", save_best_only=True),
        callbacks.ModelCheckpoint(os.path.join(log_dir, "weights-{epoch:02d}.weights.h5"), save_weights_only=True),
        callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2),
        callbacks.LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr * 0.9),
        callbacks.TensorBoard(os.path.join(log_dir, "tensorboard"), histogram_freq=5),
        callbacks.CSVLogger(os.path.join(log_dir, "training.csv")),
        callbacks.BackupAndRestore(os.path.join(log_dir, "backup")),
        callbacks.TerminateOnNaN(),
        callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: best_epochs.append(logs["val_accuracy"])),
    ]
    history = model.fit(x_train, y_train, epochs=epochs or 25, batch_size=32, validation_split=0.15,
                        callbacks=tour, verbose=verbose)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"\ntest accuracy {accuracy:.4f} after {len(history.epoch)} epochs "
          f"(best validation accuracy {max(best_epochs):.4f})")
    print(f"logs in {log_dir}:")
    for name in sorted(os.listdir(log_dir)):
        print(f"  {name}")
    print(f"CSV log: {os.path.join(log_dir, 'training.csv')}")
    print(f"open TensorBoard with:  tensorboard --logdir {os.path.join(log_dir, 'tensorboard')}")
    return {"history": history.history, "test_accuracy": accuracy, "log_dir": log_dir, "model": model}


if __name__ == "__main__":
    main(log_dir=sys.argv[1] if len(sys.argv) > 1 else None)
