"""A sequential MLP on the bundled 8x8 digits: Flatten -> Dense(128, relu) -> Dropout -> Dense(10)."""
import tinydl as td
from tinydl.datasets import digits
from tinydl.layers import Dense, Dropout, Flatten, Input
from tinydl.models import Sequential


def build_model():
    """The MLP, uncompiled."""
    return Sequential([Input(shape=(8, 8)), Flatten(), Dense(128, activation="relu"), Dropout(0.1),
                       Dense(64, activation="relu"), Dense(10, activation="softmax")], name="digits_mlp")


def main(epochs=None, verbose=2):
    """Train on digits with a validation split; print and return the test accuracy."""
    return train_and_report(build_model, "digits MLP", epochs or 30, verbose, validation_split=0.1)


def train_and_report(build, label, epochs, verbose, optimizer="adam", summary=False, **fit_kwargs):
    """Build (seeded) and train a digits classifier (sparse cross-entropy, batch 32); print and return its
    test accuracy."""
    td.set_seed(0)
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    model = build()
    if summary:
        model.summary()
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=verbose, **fit_kwargs)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"{label}: test loss {loss:.4f}, test accuracy {accuracy:.4f}")
    return {"history": history.history, "test_loss": loss, "test_accuracy": accuracy, "model": model}


if __name__ == "__main__":
    main()
