"""Audio front ends (Keras 3): STFTSpectrogram, a short-time Fourier transform computed as a strided Conv1D with
Keras's fixed STFT kernels (trainable weights, as Keras has them)."""
import math

from tinydl import backend, initializers, ops
from tinydl.layers.base import InputSpec, Layer

__all__ = ["STFTSpectrogram"]

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
