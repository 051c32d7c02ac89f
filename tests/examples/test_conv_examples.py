"""The convolutional examples run briefly and learn; the CNN reaches the issue's accuracy bar on digits."""
from tinydl.examples import cnn, conv_autoencoder, resnet


def test_cnn_reaches_97_percent_on_digits():
    # a few seconds on an idle 2-core machine; no time limit asserted, as the shared machine swings 10x
    result = cnn.main(epochs=8, verbose=0)
    assert result["test_accuracy"] >= 0.97
    assert result["history"]["loss"][-1] < result["history"]["loss"][0]


def test_resnet_loss_falls_and_summary_shows_skip_connections():
    result = resnet.main(epochs=2, verbose=0)
    losses = result["history"]["loss"]
    assert losses[-1] < losses[0]
    lines = []
    result["model"].summary(print_fn=lines.append)
    add_rows = [line for line in lines if "(Add)" in line]
    assert len(add_rows) == 2
    assert "block1_bn2[0][0]" in add_rows[0] and "stem_relu[0][0]" in add_rows[0]  # identity skip
    assert "block2_proj_bn[0][0]" in add_rows[1]  # projection skip


def test_conv_autoencoder_beats_the_mean_image():
    result = conv_autoencoder.main(epochs=6, verbose=0)
    losses = result["history"]["loss"]
    assert losses[-1] < losses[0]
    assert result["test_mse"] < 0.6 * result["baseline_mse"]
