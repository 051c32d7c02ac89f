"""Contract cases for the audio front ends: STFTSpectrogram, MelSpectrogram (issue 16)."""
from tinydl import layers as L
from tests.contract import LayerCase

CASES = [
    LayerCase(lambda **kw: L.STFTSpectrogram(frame_length=8, **kw), (2, 20, 2)),
    LayerCase(lambda **kw: L.STFTSpectrogram(mode="stft", frame_length=8, frame_step=3, fft_length=16,
                                             padding="same", **kw), (2, 20, 1), name="STFTSpectrogram[stft,same]"),
    LayerCase(lambda **kw: L.STFTSpectrogram(mode="psd", frame_length=8, expand_dims=True, window="hamming",
                                             data_format="channels_first", **kw), (2, 2, 20),
              name="STFTSpectrogram[psd,channels_first,expand_dims]"),
    LayerCase(lambda **kw: L.STFTSpectrogram(mode="angle", frame_length=8, scaling=None, periodic=True, **kw),
              (2, 20, 1), name="STFTSpectrogram[angle]", onnx="ONNX opset 17 has no atan2"),
    LayerCase(lambda **kw: L.STFTSpectrogram(mode="real", frame_length=8, window=None, **kw), (2, 20, 1),
              name="STFTSpectrogram[real,no window]"),
    LayerCase(lambda **kw: L.MelSpectrogram(fft_length=16, sequence_stride=4, num_mel_bins=4, sampling_rate=800,
                                            **kw), (2, 40)),
    LayerCase(lambda **kw: L.MelSpectrogram(fft_length=16, sequence_stride=5, sequence_length=12, window="hamming",
                                            num_mel_bins=3, sampling_rate=800, min_freq=50.0, max_freq=300,
                                            power_to_db=False, mag_exp=1.0, **kw), (2, 30),
              name="MelSpectrogram[hamming,linear power]"),
]
