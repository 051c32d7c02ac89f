"""The layer contract: every layer class has at least one LayerCase in a `cases_<area>.py` module here.

A case says how to make the layer and its inputs; `test_layer_contract.py` runs, for every case:
forward/backward against float64 directional finite differences, a gradient for every trainable weight,
config round-trip (same outputs), HDF5 round-trip and ONNX export (when the io module supports them).
Every weight is randomised first (`randomise_weights`), so a dropped bias, gamma or moving statistic shows.
`arguments.py` and `test_layer_arguments.py` add that every constructor argument of every layer round-trips
through get_config and changes what the layer does.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np


@dataclass
class LayerCase:
    """One layer under contract.

    make:         `make(**kw)` returns a fresh layer; the runner passes `dtype='float64'` for gradient checks.
    input_shapes: one shape or a list of shapes, batch dimension included, e.g. (2, 8, 8, 3) or [(2, 5, 4), (2, 3, 4)].
    input_dtypes: 'float32' (default), or e.g. 'int64' per input; int inputs are drawn from [0, int_high).
    make_inputs:  optional `make_inputs(rng) -> list of arrays` instead of shapes (graph inputs, masks, ...).
    call_kwargs:  extra keyword arguments of the call (e.g. {'use_causal_mask': True}).
    single_input: pass the only input as a tensor rather than a one-element list (default True when one shape).
    grad:         check gradients (False for layers with no float path, e.g. a pure index layer).
    onnx / hdf5:  False, or a string reason, to skip that part of the contract for this case.
    name:         test id (defaults to the layer class name).
    no_grad:      {weight name: reason} for trainable weights that rightly get no gradient in this case.
    """
    make: Callable
    input_shapes: Any = None
    input_dtypes: Any = None
    int_high: int = 5
    make_inputs: Optional[Callable] = None
    call_kwargs: dict = field(default_factory=dict)
    single_input: Optional[bool] = None
    grad: bool = True
    onnx: Any = True
    hdf5: Any = True
    name: Optional[str] = None
    no_grad: dict = field(default_factory=dict)
    rtol: float = 1e-4
    atol: float = 1e-5

    def inputs(self, rng, dtype="float32"):
        """The case's input arrays (float inputs in `dtype`)."""
        if self.make_inputs is not None:
            arrays = list(self.make_inputs(rng))
        else:
            shapes = self.input_shapes if isinstance(self.input_shapes, list) else [self.input_shapes]
            dtypes = self.input_dtypes or ["float32"] * len(shapes)
            dtypes = dtypes if isinstance(dtypes, (list, tuple)) else [dtypes] * len(shapes)
            arrays = []
            for shape, dt in zip(shapes, dtypes):
                if np.dtype(dt).kind in "iu":
                    arrays.append(rng.integers(0, self.int_high, size=shape).astype(dt))
                else:
                    arrays.append(rng.standard_normal(shape))
        return [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]

    def pack(self, arrays):
        """Inputs as the layer takes them: one tensor, or a list."""
        single = self.single_input if self.single_input is not None else len(arrays) == 1
        return arrays[0] if single else list(arrays)

    @property
    def id(self):
        return self.name or type(self.make()).__name__

    def model(self, arrays, dtype=None):
        """A functional model around a fresh layer (`make(dtype=dtype)` when given): fixed-shape Inputs for
        `arrays` -> layer(**call_kwargs), array-valued call arguments (masks) left out as a saved graph must."""
        import tinydl as td
        from tinydl.layers import Input
        from tinydl.models import Model
        layer = self.make(dtype=dtype) if dtype else self.make()
        symbolic = [Input(batch_shape=a.shape, dtype=a.dtype.name) for a in arrays]
        kwargs = {k: v for k, v in self.call_kwargs.items()
                  if k != "training" and not isinstance(v, (list, tuple, np.ndarray, td.Tensor))}
        outputs = layer(self.pack(symbolic), **kwargs)
        return Model(symbolic if len(symbolic) > 1 else symbolic[0], outputs)


def randomise_weights(layer, rng):
    """Move every float weight off its initial value: non-zero biases, non-identity gammas, moving statistics.

    Variances (names ending in `variance`) stay positive; everything else gets N(0, 0.5) noise added.
    """
    for w in layer.weights:
        if w.dtype.kind != "f":
            continue
        if w.name.endswith("variance"):
            w.assign(rng.uniform(0.5, 2.0, w.shape).astype(w.dtype))
        else:
            w.assign((w.numpy() + rng.normal(0.0, 0.5, w.shape)).astype(w.dtype))


def all_cases():
    """Every LayerCase from every `cases_*.py` module in this folder."""
    import importlib
    import pathlib
    cases = []
    for path in sorted(pathlib.Path(__file__).parent.glob("cases_*.py")):
        module = importlib.import_module(f"tests.contract.{path.stem}")
        cases.extend(module.CASES)
    return cases
