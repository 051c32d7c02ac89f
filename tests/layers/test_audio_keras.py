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


MEL_OPTIONS = {
    "8 kHz": dict(fft_length=64, sequence_stride=16, num_mel_bins=10, sampling_rate=8000),
    "hamming,short frames,band,linear magnitude": dict(
        fft_length=64, sequence_stride=10, sequence_length=48, window="hamming", num_mel_bins=8, min_freq=100.0,
        max_freq=3000, power_to_db=False, mag_exp=1.0),
    "no window,top_db,ref_power,min_power": dict(
        fft_length=32, sequence_stride=8, window=None, top_db=20.0, ref_power=2.0, min_power=1e-3, num_mel_bins=6),
}


@pytest.mark.parametrize("shape", [(2, 200), (150,)], ids=["batch", "one signal"])
@pytest.mark.parametrize("options", list(MEL_OPTIONS), ids=list(MEL_OPTIONS))
def test_mel_spectrogram_matches_keras(options, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    ours, theirs = layers.MelSpectrogram(**MEL_OPTIONS[options]), keras.layers.MelSpectrogram(**MEL_OPTIONS[options])
    out, expected = ours(x).numpy(), keras.ops.convert_to_numpy(theirs(x))
    assert out.shape == expected.shape == ours.compute_output_shape(shape)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=5e-5)
    assert ours.weights == [] and theirs.weights == []
    assert ours.get_config() == {**theirs.get_config(), "dtype": ours.get_config()["dtype"]}


def test_mel_spectrogram_output_shape_counts_centred_frames():
    # Keras's compute_output_shape says (T + stride + 1) // stride; the frames it computes are T // stride + 1
    layer = layers.MelSpectrogram(fft_length=8, sequence_stride=2, num_mel_bins=3, sampling_rate=100)
    assert layer(np.zeros((1, 201), "float32")).shape == layer.compute_output_shape((1, 201)) == (1, 3, 101)


def test_mel_spectrogram_rejects_bad_arguments_naming_them():
    for kwargs, name in [({"fft_length": 16, "sequence_length": 32}, "sequence_length"),
                         ({"window": "kaiser"}, "window"), ({"num_mel_bins": 0}, "num_mel_bins"),
                         ({"min_freq": 9000.0}, "min_freq"), ({"sequence_stride": 0}, "sequence_stride")]:
        with pytest.raises(ValueError, match=name):
            layers.MelSpectrogram(**kwargs)
