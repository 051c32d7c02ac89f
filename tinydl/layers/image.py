"""Spatial reshaping (Keras 3): UpSampling1D/2D/3D (nearest), ZeroPadding1D/2D/3D, Cropping1D/2D/3D.

`data_format='channels_first'` (channels on axis 1) works wherever Keras takes it."""
from tinydl import ops
from tinydl.layers.base import InputSpec, Layer

__all__ = ["UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
           "Cropping1D", "Cropping2D", "Cropping3D"]


class UpSampling1D(Layer):
    """Repeat every step `size` times: (batch, steps, features) -> (batch, steps * size, features)."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"UpSampling1D '{self.name}': size must be a positive int, got {size!r}")
        self.size = size
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        return ops.repeat(inputs, self.size, axis=1)

    def compute_output_shape(self, s):
        return (s[0], _times(s[1], self.size), s[2])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


class UpSampling3D(Layer):
    """Repeat along depth, height and width `size[i]` times (nearest-neighbour upsampling of volumes)."""

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(self, data_format)
        self.size = _positive(size, 3, "size", self)
        self.input_spec = InputSpec(ndim=5)

    def call(self, inputs):
        for axis, k in zip(_spatial_axes(self.data_format, 3), self.size):
            inputs = ops.repeat(inputs, k, axis=axis)
        return inputs

    def compute_output_shape(self, s):
        out = list(s)
        for axis, k in zip(_spatial_axes(self.data_format, 3), self.size):
            out[axis] = _times(s[axis], k)
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format}


class ZeroPadding1D(Layer):
    """Zeros added at the start and end of the steps axis: padding int or (start, end)."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(self, data_format)
        self.padding = _margins_nd(padding, 1, "padding", self)[0]
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        pads = [(0, 0)] * 3
        pads[_spatial_axes(self.data_format, 1)[0]] = self.padding
        return ops.pad(inputs, tuple(pads))

    def compute_output_shape(self, s):
        out, axis = list(s), _spatial_axes(self.data_format, 1)[0]
        out[axis] = None if s[axis] is None else s[axis] + sum(self.padding)
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class ZeroPadding3D(Layer):
    """Zeros added around a volume: padding int, (d, h, w) or ((front, back), (top, bottom), (left, right))."""

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(self, data_format)
        self.padding = _margins_nd(padding, 3, "padding", self)
        self.input_spec = InputSpec(ndim=5)

    def call(self, inputs):
        pads = [(0, 0)] * 5
        for axis, p in zip(_spatial_axes(self.data_format, 3), self.padding):
            pads[axis] = p
        return ops.pad(inputs, tuple(pads))

    def compute_output_shape(self, s):
        out = list(s)
        for axis, p in zip(_spatial_axes(self.data_format, 3), self.padding):
            out[axis] = None if s[axis] is None else s[axis] + sum(p)
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class Cropping3D(Layer):
    """Slices cut from a volume's edges: cropping int, (d, h, w) or ((front, back), (top, bottom), (left, right))."""

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(self, data_format)
        self.cropping = _margins_nd(cropping, 3, "cropping", self)
        self.input_spec = InputSpec(ndim=5)

    def call(self, inputs):
        index = [slice(None)] * 5
        for axis, (a, b) in zip(_spatial_axes(self.data_format, 3), self.cropping):
            if a + b >= inputs.shape[axis]:
                raise ValueError(f"Cropping3D '{self.name}': cropping {self.cropping} leaves nothing of input "
                                 f"{tuple(inputs.shape)}")
            index[axis] = slice(a, inputs.shape[axis] - b)
        return inputs[tuple(index)]

    def compute_output_shape(self, s):
        out = list(s)
        for axis, p in zip(_spatial_axes(self.data_format, 3), self.cropping):
            out[axis] = None if s[axis] is None else s[axis] - sum(p)
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


class UpSampling2D(Layer):
    """Repeat rows `size[0]` times and columns `size[1]` times (nearest-neighbour upsampling)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        if interpolation != "nearest":
            raise ValueError(f"UpSampling2D '{self.name}': only interpolation='nearest' is supported, "
                             f"got {interpolation!r}")
        self.size = _pair(size, "size", self)
        self.data_format, self.interpolation = _data_format(self, data_format), interpolation
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        rows, cols = _spatial_axes(self.data_format, 2)
        return ops.repeat(ops.repeat(inputs, self.size[0], axis=rows), self.size[1], axis=cols)

    def compute_output_shape(self, s):
        out = list(s)
        for axis, k in zip(_spatial_axes(self.data_format, 2), self.size):
            out[axis] = _times(s[axis], k)
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}


class ZeroPadding2D(Layer):
    """Zeros added around the image: padding int, (rows, cols) or ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _margins(padding, "padding", self)
        self.data_format = _data_format(self, data_format)
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        pads = [(0, 0)] * 4
        for axis, p in zip(_spatial_axes(self.data_format, 2), self.padding):
            pads[axis] = p
        return ops.pad(inputs, tuple(pads))

    def compute_output_shape(self, s):
        out = list(s)
        for axis, p in zip(_spatial_axes(self.data_format, 2), self.padding):
            out[axis] = None if s[axis] is None else s[axis] + sum(p)
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class Cropping2D(Layer):
    """Rows and columns cut from the edges: cropping int, (rows, cols) or ((top, bottom), (left, right))."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _margins(cropping, "cropping", self)
        self.data_format = _data_format(self, data_format)
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        index = [slice(None)] * 4
        for axis, (a, b) in zip(_spatial_axes(self.data_format, 2), self.cropping):
            if a + b >= inputs.shape[axis]:
                raise ValueError(f"Cropping2D '{self.name}': cropping {self.cropping} leaves nothing of input "
                                 f"{tuple(inputs.shape)}")
            index[axis] = slice(a, inputs.shape[axis] - b)
        return inputs[tuple(index)]

    def compute_output_shape(self, s):
        out = list(s)
        for axis, p in zip(_spatial_axes(self.data_format, 2), self.cropping):
            out[axis] = None if s[axis] is None else s[axis] - sum(p)
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


class Cropping1D(Layer):
    """Steps cut from the start and end of a sequence (batch, steps, features): cropping int or (start, end)."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        values = (cropping, cropping) if isinstance(cropping, int) else tuple(cropping)
        if len(values) != 2 or any(not isinstance(v, int) or v < 0 for v in values):
            raise ValueError(f"Cropping1D '{self.name}': cropping must be an int or (start, end) of non-negative "
                             f"ints, got {cropping!r}")
        self.cropping = values
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        start, end = self.cropping
        steps = inputs.shape[1]
        if start + end >= steps:
            raise ValueError(f"Cropping1D '{self.name}': cropping {self.cropping} leaves nothing of input "
                             f"{tuple(inputs.shape)}")
        return inputs[:, start:steps - end, :]

    def compute_output_shape(self, s):
        return (s[0], None if s[1] is None else s[1] - sum(self.cropping), s[2])

    def get_config(self):
        return {**super().get_config(), "cropping": list(self.cropping)}


def _data_format(layer, value):
    """'channels_last' (None's meaning) or 'channels_first', or an error naming the layer."""
    if value not in (None, "channels_last", "channels_first"):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': data_format must be 'channels_last' or "
                         f"'channels_first', got {value!r}")
    return value or "channels_last"


def _spatial_axes(data_format, rank):
    first = 2 if data_format == "channels_first" else 1
    return tuple(range(first, first + rank))


def _positive(value, rank, what, layer):
    """An int or `rank` positive ints as a tuple."""
    try:
        values = (int(value),) * rank if isinstance(value, int) else tuple(int(v) for v in value)
    except (TypeError, ValueError):
        values = ()
    if len(values) != rank or min(values) < 1:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': {what} must be an int or {rank} positive ints, "
                         f"got {value!r}")
    return values


def _margins_nd(value, rank, what, layer):
    """int, `rank` ints or `rank` (before, after) pairs of non-negative ints as `rank` pairs."""
    try:
        if isinstance(value, int):
            out = ((value, value),) * rank
        elif rank == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
            out = (tuple(value),)
        elif all(isinstance(v, int) for v in value):
            out = tuple((v, v) for v in value)
        else:
            out = tuple((int(a), int(b)) for a, b in value)
        ok = len(out) == rank and min(min(p) for p in out) >= 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        shapes = "(start, end)" if rank == 1 else f"{rank} ints or {rank} (before, after) pairs"
        raise ValueError(f"{type(layer).__name__} '{layer.name}': {what} must be an int or {shapes} of "
                         f"non-negative ints, got {value!r}")
    return tuple(tuple(p) for p in out)


def _times(n, k):
    return None if n is None else n * k


def _pair(value, what, layer):
    """An int or two positive ints as a tuple."""
    values = (int(value),) * 2 if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) != 2 or min(values) < 1:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': {what} must be an int or 2 positive ints, "
                         f"got {value!r}")
    return values


def _margins(value, what, layer):
    """int, (rows, cols) or ((top, bottom), (left, right)) as ((top, bottom), (left, right))."""
    try:
        if isinstance(value, int):
            out = ((value, value), (value, value))
        elif all(isinstance(v, int) for v in value):
            (rows, cols) = value
            out = ((rows, rows), (cols, cols))
        else:
            out = tuple((int(a), int(b)) for a, b in value)
        ok = len(out) == 2 and min(min(p) for p in out) >= 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': {what} must be an int, (rows, cols) or "
                         f"((top, bottom), (left, right)) of non-negative ints, got {value!r}")
    return out
