"""STFTSpectrogram gives Keras 3's numbers, weights and configs (real `keras`, torch backend; skipped when keras
is not installed)."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover - another backend was configured first
    pytest.skip("these tests run Keras with the torch backend", allow_module_level=True)
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

from tinydl import layers  # noqa: E402

MODES = ["log", "magnitude", "psd", "real", "imag", "angle", "stft"]
OPTIONS = {"defaults": {},
           "same,step 5,fft 32,spectrum,periodic hamming,expand": dict(
               padding="same", frame_step=5, fft_length=32, scaling="spectrum", periodic=True, window="hamming",
               expand_dims=True),
           "no scaling,no window": dict(scaling=None, window=None, frame_step=16)}


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("options", list(OPTIONS), ids=list(OPTIONS))
@pytest.mark.parametrize("mode", MODES)
def test_stft_spectrogram_matches_keras(mode, options, data_format):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 40, 3) if data_format == "channels_last" else (2, 3, 40)).astype("float32")
    kwargs = dict(mode=mode, frame_length=16, data_format=data_format, **OPTIONS[options])
    ours, theirs = layers.STFTSpectrogram(**kwargs), keras.layers.STFTSpectrogram(**kwargs)
    out, expected = ours(x).numpy(), keras.ops.convert_to_numpy(theirs(x))
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-6, atol=1e-7)
    assert out.shape == expected.shape == ours.compute_output_shape(x.shape)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    assert ours.get_config() == {**theirs.get_config(), "dtype": ours.get_config()["dtype"]}


def test_stft_spectrogram_rejects_bad_arguments_naming_them():
    for kwargs, name in [({"mode": "power"}, "mode"), ({"frame_step": 0}, "frame_step"),
                         ({"fft_length": 8, "frame_length": 16}, "fft_length"), ({"padding": "causal"}, "padding"),
                         ({"scaling": "unit"}, "scaling"), ({"window": "kaiser-ish"}, "window"),
                         ({"data_format": "nct"}, "data_format")]:
        with pytest.raises(ValueError, match=name):
            layers.STFTSpectrogram(**kwargs)
