"""EinsumDense: a dense layer whose product is an einsum equation (Keras 3's layer, names and config).

    EinsumDense("abc,cde->abde", output_shape=(None, 4, 8), bias_axes="de")   # multi-head projection

Equations are `in,kernel->out`, `...in,kernel->...out` or `in...,kernel->out...`; `output_shape` leaves out
the batch axis and the elided axes (None for an axis the input decides). The kernel's shape follows from the
equation: a letter in the output takes the output's size, else the input's. Weights: `kernel`, `bias`.
"""
import re
import string

from tinydl import activations, constraints, initializers, ops
from tinydl.io.config import serialize
from tinydl.layers.base import Layer

__all__ = ["EinsumDense"]


class EinsumDense(Layer):
    """`activation(einsum(equation, inputs, kernel) + bias)`, bias over the `bias_axes` letters of the output."""

    def __init__(self, equation, output_shape, activation=None, bias_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, lora_rank=None, lora_alpha=None, gptq_unpacked_column_size=None,
                 quantization_config=None, **kwargs):
        super().__init__(**kwargs)
        for label, value in (("lora_rank", lora_rank), ("lora_alpha", lora_alpha),
                             ("gptq_unpacked_column_size", gptq_unpacked_column_size),
                             ("quantization_config", quantization_config)):
            if value is not None:
                raise NotImplementedError(f"EinsumDense '{self.name}': {label} (LoRA and quantization) is not "
                                          f"supported, got {label}={value!r}")
        self.equation = str(equation)
        self._parts = _parse(self.equation, self.name)
        self.partial_output_shape = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        self.activation = activations.get(activation)
        self.bias_axes = bias_axes
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape):
        kernel_shape, bias_shape, self.full_output_shape, input_axes, output_axes = einsum_dense_shapes(
            self._parts, self.bias_axes, tuple(input_shape), self.partial_output_shape, self.name)
        self.kernel = self.add_weight("kernel", kernel_shape, _with_axes(self.kernel_initializer, input_axes,
                                                                         output_axes),
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = None if bias_shape is None else self.add_weight(
            "bias", bias_shape, self.bias_initializer, regularizer=self.bias_regularizer,
            constraint=self.bias_constraint)

    def call(self, inputs):
        y = ops.einsum(self.explicit_equation(inputs.ndim), inputs, self.kernel)
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)

    def explicit_equation(self, ndim):
        """The equation for an input of `ndim` axes with '...' spelled out in unused letters."""
        return _explicit(self._parts, ndim)

    def compute_output_shape(self, input_shape):
        return tuple(einsum_dense_shapes(self._parts, self.bias_axes, tuple(input_shape), self.partial_output_shape,
                                         self.name)[2])

    def get_config(self):
        return {**super().get_config(), "output_shape": list(self.partial_output_shape),
                "equation": self.equation, "activation": activations.serialize(self.activation),
                "bias_axes": self.bias_axes, "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer),
                "activity_regularizer": serialize(self.activity_regularizer),
                "kernel_constraint": serialize(self.kernel_constraint),
                "bias_constraint": serialize(self.bias_constraint), "quantization_config": None}


def einsum_dense_shapes(parts, bias_axes, input_shape, output_shape, name="einsum_dense"):
    """(kernel shape, bias shape or None, full output shape, kernel input axes, kernel output axes)."""
    inp, kern, out, side = parts
    elided = len(input_shape) - len(inp)
    if elided < 0 or (side is None and elided):
        raise ValueError(f"EinsumDense '{name}': input shape {input_shape} does not fit the equation's input "
                         f"{inp!r} ({len(inp)} axes{' and more' if side else ''})")
    full = [input_shape[0]] + list(output_shape)
    if side == "left":  # the elided axes follow the batch axis
        full[1:1] = list(input_shape[1:elided])
    elif side == "right":
        full += list(input_shape[len(input_shape) - elided:])
    in_at = {c: i + (elided if side == "left" else 0) for i, c in enumerate(inp)}
    out_at = {c: i + (elided if side == "left" else 0) for i, c in enumerate(out)}
    if len(full) != len(out) + elided:
        raise ValueError(f"EinsumDense '{name}': output_shape {output_shape} should have {len(out) - 1} axes "
                         f"(the output {out!r} without the batch axis), for input shape {input_shape}")
    for c in inp:
        if c in out_at:
            size = full[out_at[c]]
            if size is not None and size != input_shape[in_at[c]]:
                raise ValueError(f"EinsumDense '{name}': axis {c!r} has size {input_shape[in_at[c]]} in the input "
                                 f"but {size} in output_shape {output_shape}")
            full[out_at[c]] = input_shape[in_at[c]]
    for c in out:
        if c not in inp and c not in kern:
            raise ValueError(f"EinsumDense '{name}': output axis {c!r} is in neither the input {inp!r} nor the "
                             f"kernel {kern!r}")
    kernel_shape, input_axes, output_axes = [], [], []
    for i, c in enumerate(kern):
        if c in out_at:
            kernel_shape.append(full[out_at[c]])
            output_axes.append(i)
        elif c in in_at:
            kernel_shape.append(input_shape[in_at[c]])
            input_axes.append(i)
        else:
            raise ValueError(f"EinsumDense '{name}': kernel axis {c!r} is in neither the input {inp!r} nor the "
                             f"output {out!r}")
    if any(n is None for n in kernel_shape):
        raise ValueError(f"EinsumDense '{name}': the kernel's shape {kernel_shape} needs every axis known; give "
                         f"it in output_shape or the input shape {input_shape}")
    return kernel_shape, _bias_shape(bias_axes, out, full, elided, side, name), full, input_axes, output_axes


def _bias_shape(bias_axes, out, full, elided, side, name):
    """The bias covers the output from its first bias axis on, with size 1 on the non-bias axes."""
    if bias_axes is None:
        return None
    missing = [c for c in bias_axes if c not in out]
    if missing:
        raise ValueError(f"EinsumDense '{name}': bias_axes {bias_axes!r} names {missing}, not in the output {out!r}")
    offset = elided if side == "left" else 0
    first = min(out.index(c) for c in bias_axes)
    shape = [full[i + offset] if c in bias_axes else 1 for i, c in enumerate(out) if i >= first]
    return shape + ([1] * elided if side == "right" else [])


def _parse(equation, name):
    """(input, kernel, output letters, 'left' / 'right' / None for where '...' stands)."""
    for pattern, side in ((r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", None),
                          (r"\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)", "left"),
                          (r"([a-zA-Z]{2,})\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\.", "right")):
        match = re.fullmatch(pattern, equation.replace(" ", ""))
        if match:
            return match.group(1), match.group(2), match.group(3), side
    raise ValueError(f"EinsumDense '{name}': equation must be 'X,Y->Z', '...X,Y->...Z' or 'X...,Y->Z...', "
                     f"got {equation!r}")


def _explicit(parts, ndim):
    """The equation with '...' spelled out in letters unused elsewhere (tinydl's einsum wants every axis)."""
    inp, kern, out, side = parts
    free = [c for c in string.ascii_letters if c not in inp + kern + out][:ndim - len(inp)]
    extra = "".join(free)
    if side == "left":
        inp, out = extra + inp, extra + out
    elif side == "right":
        inp, out = inp + extra, out + extra
    return f"{inp},{kern}->{out}"


def _with_axes(initializer, input_axes, output_axes):
    """A VarianceScaling initializer told which kernel axes are fan-in and fan-out (as Keras does)."""
    init = initializers.get(initializer)
    if isinstance(init, initializers.VarianceScaling) and (init.input_axes is None or init.output_axes is None):
        config = dict(init.get_config(), input_axes=input_axes, output_axes=output_axes)
        return type(init).from_config(config) if hasattr(type(init), "from_config") else type(init)(**config)
    return initializer
