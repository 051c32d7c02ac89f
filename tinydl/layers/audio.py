"""Audio front ends (Keras 3): STFTSpectrogram, a short-time Fourier transform computed as a strided Conv1D with
Keras's fixed STFT kernels (trainable weights, as Keras has them); MelSpectrogram, a weightless mel-scaled power
spectrogram in decibels built on ops.stft."""
import math

import numpy as np

from tinydl import backend, initializers, ops
from tinydl.layers.base import InputSpec, Layer

__all__ = ["STFTSpectrogram", "MelSpectrogram"]

MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")


class STFTSpectrogram(Layer):
    """Spectrogram of (batch, time, channels) signals (channels_first: (batch, channels, time)).

    Frames of `frame_length` samples every `frame_step` (default frame_length // 2), windowed and transformed to
    `fft_length // 2 + 1` bins (fft_length defaults to the next power of two). `mode` picks the output:
    'real', 'imag', 'stft' (both, concatenated), 'magnitude', 'log' (of the magnitude), 'psd' (power, inner bins
    doubled) or 'angle'. Output (batch, frames, channels * bins), or (batch, frames, bins, channels) with
    `expand_dims` (channels_first: (batch, channels * bins, frames) / (batch, channels, frames, bins)).
    """

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None, window="hann",
                 periodic=False, scaling="density", padding="valid", expand_dims=False, data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        where = f"STFTSpectrogram '{self.name}'"
        if frame_step is not None and not 1 <= frame_step <= frame_length:
            raise ValueError(f"{where}: frame_step must be a positive integer not greater than frame_length, got "
                             f"frame_step={frame_step}, frame_length={frame_length}")
        if fft_length is not None and fft_length < frame_length:
            raise ValueError(f"{where}: fft_length must be at least frame_length, got fft_length={fft_length}, "
                             f"frame_length={frame_length}")
        if mode not in MODES:
            raise ValueError(f"{where}: mode must be one of {', '.join(MODES)}, got mode={mode!r}")
        if padding not in ("valid", "same"):
            raise ValueError(f"{where}: padding must be 'valid' or 'same', got padding={padding!r}")
        data_format = backend.image_data_format() if data_format is None else data_format
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{where}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
        initializers.STFT("real", window, scaling, periodic)  # checks window and scaling, naming them
        self.mode, self.frame_length, self.frame_step, self.fft_length = mode, int(frame_length), frame_step, \
            fft_length
        self.window = window.tolist() if hasattr(window, "tolist") else window
        self.periodic, self.scaling, self.padding = bool(periodic), scaling, padding
        self.expand_dims, self.data_format = bool(expand_dims), data_format
        self.step = int(frame_step) if frame_step is not None else self.frame_length // 2
        self.bins = (int(fft_length) if fft_length is not None
                     else 2 ** int(math.ceil(math.log2(self.frame_length)))) // 2 + 1
        self.input_spec = InputSpec(ndim=3)
        self.real_kernel = self.imag_kernel = None

    def build(self, input_shape):
        shape = (self.frame_length, 1, self.bins)
        if self.mode != "imag":
            self.real_kernel = self.add_weight("real_kernel", shape, initializers.STFT(
                "real", self.window, self.scaling, self.periodic))
        if self.mode != "real":
            self.imag_kernel = self.add_weight("imag_kernel", shape, initializers.STFT(
                "imag", self.window, self.scaling, self.periodic))

    def call(self, inputs):
        if inputs.dtype.kind != "f":
            raise TypeError(f"STFTSpectrogram '{self.name}' needs float inputs, got {inputs.dtype}")
        real = self._transform(inputs, self.real_kernel) if self.mode != "imag" else None
        imag = self._transform(inputs, self.imag_kernel) if self.mode != "real" else None
        if self.mode in ("real", "imag"):
            return self._arrange(real if self.mode == "real" else imag)
        if self.mode == "angle":
            return self._arrange(ops.arctan2(imag, real))
        if self.mode == "stft":
            return self._arrange(ops.concatenate([real, imag], axis=2))
        power = real * real + imag * imag
        if self.mode == "psd":  # one-sided power: the bins between DC and Nyquist count twice
            return self._arrange(power + ops.pad(power[:, :, 1:-1, :], [[0, 0], [0, 0], [1, 1], [0, 0]]))
        eps = backend.epsilon()
        magnitude = self._arrange(ops.sqrt(ops.maximum(power, eps)))
        return magnitude if self.mode == "magnitude" else ops.log(ops.maximum(magnitude, eps))

    def _transform(self, inputs, kernel):
        """(batch, channels, bins, frames): each channel convolved on its own with the (frame_length, 1, bins)
        kernel."""
        if self.data_format == "channels_last":
            batch, time, channels = inputs.shape
            inputs = ops.transpose(inputs, (0, 2, 1))
        else:
            batch, channels, time = inputs.shape
        signals = ops.reshape(inputs, (-1, time, 1))
        out = ops.conv(signals, ops.cast(kernel, inputs.dtype), strides=self.step, padding=self.padding)
        out = ops.transpose(out, (0, 2, 1))  # (batch * channels, bins, frames)
        return ops.reshape(out, (-1, channels) + tuple(out.shape[1:]))

    def _arrange(self, outputs):
        """(batch, channels, bins, frames) to the layer's output layout."""
        batch, channels, bins, frames = outputs.shape
        if self.expand_dims:
            return ops.transpose(outputs, (0, 3, 2, 1) if self.data_format == "channels_last" else (0, 1, 3, 2))
        outputs = ops.reshape(outputs, (-1, channels * bins, frames))
        return ops.transpose(outputs, (0, 2, 1)) if self.data_format == "channels_last" else outputs

    def compute_output_shape(self, input_shape):
        last = self.data_format == "channels_last"
        batch, time, channels = (input_shape if last else (input_shape[0], input_shape[2], input_shape[1]))
        bins = self.bins * 2 if self.mode == "stft" else self.bins
        if time is None:
            frames = None
        elif self.padding == "same":
            frames = -(-time // self.step)
        else:
            frames = (time - self.frame_length) // self.step + 1
        if self.expand_dims:
            return (batch, frames, bins, channels) if last else (batch, channels, frames, bins)
        features = None if channels is None else channels * bins
        return (batch, frames, features) if last else (batch, features, frames)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "frame_length": self.frame_length,
                "frame_step": self.frame_step, "fft_length": self.fft_length, "window": self.window,
                "periodic": self.periodic, "scaling": self.scaling, "padding": self.padding,
                "data_format": self.data_format, "expand_dims": self.expand_dims}


class MelSpectrogram(Layer):
    """(batch, time) or (time,) signals to (batch, num_mel_bins, frames) mel spectrograms, as Keras 3.

    `|stft| ** mag_exp` (centred frames of fft_length every sequence_stride, window of sequence_length), times
    the mel filter bank between min_freq and max_freq (default sampling_rate / 2); with `power_to_db`,
    `10 log10(max(p, min_power) / max(|ref_power|, min_power))` floored at `top_db` below the largest value
    of the whole batch (Keras takes that maximum over the batch, not per sample).
    """

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None, window="hann",
                 sampling_rate=16000, num_mel_bins=128, min_freq=20.0, max_freq=None, power_to_db=True,
                 top_db=80.0, mag_exp=2.0, min_power=1e-10, ref_power=1.0, **kwargs):
        super().__init__(**kwargs)
        where = f"MelSpectrogram '{self.name}'"
        self.fft_length, self.sequence_stride = int(fft_length), int(sequence_stride)
        self.sequence_length = int(sequence_length or fft_length)
        if self.fft_length < self.sequence_length:
            raise ValueError(f"{where}: fft_length must be at least sequence_length, got fft_length={fft_length}, "
                             f"sequence_length={sequence_length}")
        if self.sequence_stride < 1:
            raise ValueError(f"{where}: sequence_stride must be a positive integer, got {sequence_stride!r}")
        if not (window is None or window in ("hann", "hamming") or np.shape(window) == (self.sequence_length,)):
            raise ValueError(f"{where}: window must be 'hann', 'hamming', None or an array of sequence_length "
                             f"({self.sequence_length}) values, got {window!r}")
        if int(num_mel_bins) < 1:
            raise ValueError(f"{where}: num_mel_bins must be positive, got {num_mel_bins!r}")
        self.window = window.tolist() if hasattr(window, "tolist") else window
        self.sampling_rate, self.num_mel_bins = sampling_rate, int(num_mel_bins)
        self.min_freq, self.max_freq = min_freq, max_freq or int(sampling_rate / 2)
        if not 0 <= self.min_freq < self.max_freq:
            raise ValueError(f"{where}: need 0 <= min_freq < max_freq, got min_freq={min_freq}, "
                             f"max_freq={self.max_freq}")
        self.power_to_db, self.top_db, self.mag_exp = bool(power_to_db), top_db, mag_exp
        self.min_power, self.ref_power = min_power, ref_power

    def call(self, inputs):
        if inputs.dtype.kind != "f":
            inputs = ops.cast(inputs, "float32")
        real, imag = ops.stft(inputs, self.sequence_length, self.sequence_stride, self.fft_length,
                              window=self.window, center=True)
        spectrum = ops.power(ops.sqrt(real * real + imag * imag), self.mag_exp)
        matrix = linear_to_mel_weight_matrix(self.num_mel_bins, spectrum.shape[-1], self.sampling_rate,
                                             self.min_freq, self.max_freq).astype(inputs.dtype)
        mel = ops.matmul(spectrum, matrix)
        if self.power_to_db:
            mel = self._decibels(mel)
        return ops.swapaxes(mel, -1, -2)

    def frame_window(self):
        """The (fft_length,) window each frame is multiplied by (ops.stft's periodic window, centred), or None."""
        if self.window is None:
            return None
        n = np.arange(self.sequence_length)
        if self.window == "hann":
            win = 0.5 - 0.5 * np.cos(2 * np.pi * n / self.sequence_length)
        elif self.window == "hamming":
            win = 0.54 - 0.46 * np.cos(2 * np.pi * n / self.sequence_length)
        else:
            win = np.asarray(self.window, dtype=np.float64)
        left = (self.fft_length - self.sequence_length) // 2
        return np.pad(win, (left, self.fft_length - self.sequence_length - left))

    def _decibels(self, power):
        """10 log10(power / ref), floored at top_db below the batch's maximum."""
        log_spec = 10.0 * ops.log10(ops.maximum(power, self.min_power))
        log_spec = log_spec - 10.0 * float(np.log10(max(abs(self.ref_power), self.min_power)))
        return ops.maximum(log_spec, ops.max(log_spec) - self.top_db)

    def compute_output_shape(self, input_shape):
        time = input_shape[-1]
        frames = None if time is None else time // self.sequence_stride + 1  # centred: fft_length // 2 each side
        return (self.num_mel_bins, frames) if len(input_shape) == 1 else (input_shape[0], self.num_mel_bins, frames)

    def get_config(self):
        return {**super().get_config(), "fft_length": self.fft_length, "sequence_stride": self.sequence_stride,
                "sequence_length": self.sequence_length, "window": self.window,
                "sampling_rate": self.sampling_rate, "num_mel_bins": self.num_mel_bins,
                "min_freq": self.min_freq, "max_freq": self.max_freq, "power_to_db": self.power_to_db,
                "top_db": self.top_db, "mag_exp": self.mag_exp, "min_power": self.min_power,
                "ref_power": self.ref_power}


MEL_BREAK_FREQUENCY_HERTZ = 700.0
MEL_HIGH_FREQUENCY_Q = 1127.0


def linear_to_mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sampling_rate, lower_edge_hertz,
                                upper_edge_hertz):
    """(num_spectrogram_bins, num_mel_bins) triangular HTK mel filters, the DC bin zero (Keras's / TF's matrix)."""
    def to_mel(hertz):
        return MEL_HIGH_FREQUENCY_Q * np.log(1.0 + hertz / MEL_BREAK_FREQUENCY_HERTZ)

    f32 = np.float32
    linear = np.linspace(f32(0), f32(sampling_rate) / f32(2), num_spectrogram_bins, dtype=f32)[1:]
    bins_mel = to_mel(linear)[:, None]
    edges = np.linspace(to_mel(f32(lower_edge_hertz)), to_mel(f32(upper_edge_hertz)), num_mel_bins + 2, dtype=f32)
    lower, center, upper = edges[:-2][None], edges[1:-1][None], edges[2:][None]
    slopes = np.minimum((bins_mel - lower) / (center - lower), (upper - bins_mel) / (upper - center))
    return np.pad(np.maximum(f32(0), slopes), [[1, 0], [0, 0]]).astype(f32)
