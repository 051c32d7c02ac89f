"""The example models (modules of tinydl/examples with `build_model()`) and random inputs for them, shared by
the format tests that run every example through a real consumer (TF.js, OpenVINO)."""
import importlib
import pkgutil

import numpy as np

import tinydl.examples


def example_names():
    """Names of the example modules that define `build_model()`."""
    return [info.name for info in pkgutil.iter_modules(tinydl.examples.__path__)
            if hasattr(importlib.import_module(f"tinydl.examples.{info.name}"), "build_model")]


def example_inputs(model, rng, batch=3):
    """Random inputs for the model's Inputs: None dims become small sizes, int inputs small ids; graph
    models (fixed first dimension) get 5 nodes, 8 edges and two graphs."""
    tensors = model._graph.input_tensors
    graph = any(kt.shape[0] is not None for kt in tensors)
    arrays = []
    for kt in tensors:
        if graph and np.dtype(kt.dtype).kind != "f":
            arrays.append(rng.integers(0, 5, size=(2, 8)).astype(kt.dtype) if len(kt.shape) == 2
                          else np.array([0, 0, 0, 1, 1], dtype=kt.dtype))
            continue
        shape = (5,) + tuple(kt.shape[1:]) if graph else \
            tuple(batch if i == 0 and d is None else (5 if d is None else d) for i, d in enumerate(kt.shape))
        if np.dtype(kt.dtype).kind in "iu":
            arrays.append(rng.integers(0, 3, size=shape).astype(kt.dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(kt.dtype))
    return arrays
