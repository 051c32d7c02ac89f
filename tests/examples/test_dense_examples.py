"""The dense examples run briefly and learn; the demo MLP reaches the issue's accuracy bar."""
import numpy as np
import pytest

from tinydl.examples import autoencoder, mlp, multi_io, siamese


def test_mlp_reaches_95_percent_on_digits():
    # its training time is measured in benchmarks/train_mlp.py (and printed by `python -m tinydl`)
    result = mlp.main(epochs=30, verbose=0)
    assert result["test_accuracy"] >= 0.95


@pytest.mark.parametrize("example", [multi_io, siamese, autoencoder], ids=lambda m: m.__name__.split(".")[-1])
def test_example_loss_falls(example):
    result = example.main(epochs=3, verbose=0)
    losses = result["history"]["loss"]
    assert losses[-1] < losses[0]


def test_siamese_branches_share_one_set_of_weights():
    model = siamese.build_model()
    encoder = model.get_layer("encoder")
    assert len(model.trainable_weights) == len(encoder.trainable_weights) == 4
    model.compile("sgd", siamese.contrastive_loss)
    before = encoder.get_weights()[0].copy()
    x = np.random.default_rng(0).random((8, 8, 8)).astype(np.float32)
    model.train_on_batch([x, x[::-1]], np.ones((8, 1), np.float32))  # "same" pairs: loss d^2 pulls them together
    assert not np.allclose(encoder.get_weights()[0], before)
    same = model.predict([x, x], verbose=0)
    np.testing.assert_array_equal(same, 0.0)  # identical inputs: one encoder, zero difference


def test_autoencoder_beats_the_mean_image():
    result = autoencoder.main(epochs=25, verbose=0)
    assert result["test_mse"] < 0.8 * result["baseline_mse"]
