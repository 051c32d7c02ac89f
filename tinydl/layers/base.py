"""Layer: weights made on first call, eager and symbolic calls, configs, masks, sub-layer tracking.

A layer is called like a function. On Tensors or arrays it computes at once (eager, as in Keras 3).
On `KerasTensor`s (what `Input()` returns; layers/symbolic.py) it records a `Node` in the functional graph and returns
new KerasTensors whose shapes come from `compute_output_shape` or, by default, from running the
layer on small dummy batches.
"""
import inspect
import weakref

import numpy as np

from tinydl import backend, constraints, initializers, regularizers
from tinydl.autograd import no_grad
from tinydl.io.config import deserialize, register_serializable
from tinydl.io.limits import charge_weights
from tinydl.layers.naming import clear_session, snake_case, unique_name  # noqa: F401  (re-exported)
from tinydl.layers.symbolic import KerasTensor, Node, flatten, pack_like  # noqa: F401  (re-exported)
from tinydl.tensor import Tensor

__all__ = ["Layer", "Variable", "KerasTensor", "Node", "InputSpec", "learning_phase", "clear_session",
           "flatten", "pack_like", "to_tensor", "unique_name", "call_args"]

_phase = [False]
_call_depth = [0]  # eager layer calls in progress: 0 means the next call is an entry call (Keras's call context)
# layers whose `_losses` is not empty: entry calls walk their sub-layers to clear losses only when some
# layer holds any (the walk costs more than a small model's whole forward pass)
_holding_losses = weakref.WeakSet()


class learning_phase:
    """Context that sets the default `training` flag for layers called without one (fit uses True)."""

    def __init__(self, training):
        self.training = bool(training)

    def __enter__(self):
        self.previous = _phase[0]
        _phase[0] = self.training

    def __exit__(self, *exc):
        _phase[0] = self.previous


class Variable(Tensor):
    """A layer weight: a leaf Tensor with a name (`kernel`), a path (`dense/kernel`) and a trainable flag."""

    __slots__ = ("path", "trainable", "regularizer", "constraint", "initializer")

    def __init__(self, value, name, path=None, trainable=True, regularizer=None, constraint=None):
        super().__init__(value, requires_grad=trainable and np.asarray(value).dtype.kind == "f")
        self.name = name
        self.path = path or name
        self.trainable = trainable
        self.regularizer = regularizer
        self.constraint = constraint

    def numpy(self):
        """A copy of the value as a NumPy array."""
        return np.array(super().numpy())

    def assign(self, value):
        """Set the value in place; the shape must match."""
        value = value.data if isinstance(value, Tensor) else value
        value = backend.to_device(np.asarray(value) if not hasattr(value, "shape") else value, self.device)
        if tuple(value.shape) != self.shape:
            raise ValueError(f"cannot assign a value of shape {tuple(value.shape)} to variable '{self.path}' "
                             f"of shape {self.shape}")
        self.data[...] = value

    @property
    def value(self):
        """The variable itself (Keras's `.value`)."""
        return self

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}>"


class InputSpec:
    """What a layer accepts: `ndim`, `min_ndim`, `axes` {axis: size}; checked before every call."""

    def __init__(self, ndim=None, min_ndim=None, max_ndim=None, axes=None, dtype=None):
        self.ndim, self.min_ndim, self.max_ndim, self.axes, self.dtype = ndim, min_ndim, max_ndim, axes or {}, dtype


def in_layer_call():
    """Whether a layer's eager call is in progress (a layer called now is nested in another)."""
    return _call_depth[0] > 0


def to_tensor(x, dtype=None):
    """Arrays and numbers as Tensors; float arrays cast to `dtype` (the layer's) when given."""
    if isinstance(x, Tensor):
        if dtype is not None and x.dtype.kind == "f" and x.dtype != dtype:
            return x.astype(dtype)
        return x
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        if dtype is not None and x.dtype.kind == "f" and x.dtype != dtype:
            x = x.astype(dtype)
        return Tensor._wrap(x, False) if isinstance(x, np.ndarray) or backend.device_of(x) == "cuda" else Tensor(x)
    if isinstance(x, (list, tuple, float, int)):
        return Tensor(x, dtype=dtype if isinstance(x, float) else None)
    return x


class Layer:
    """Base of every layer. Subclasses write `build(input_shape)` and `call(inputs, ...)`.

    `call` may take `training` and `mask` arguments; the base passes them only when declared.
    Weights are made with `add_weight` in `build`, which runs once, on the first call.
    """

    input_spec = None
    supports_masking = False

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, input_dim=None,
                 batch_input_shape=None, batch_size=None, activity_regularizer=None, **kwargs):
        kwargs.pop("autocast", None)
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected keyword arguments: {sorted(kwargs)}")
        object.__setattr__(self, "_layers", [])
        self.name = name or unique_name(snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = _dtype_name(dtype)
        self.built = False
        self._weights = []
        self._inbound_nodes = []
        self._build_shapes = None
        self.activity_regularizer = _regularizer(activity_regularizer)
        self._losses = []
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            self._batch_input_shape = tuple(batch_input_shape)
        elif input_shape is not None:
            self._batch_input_shape = (batch_size,) + tuple(input_shape)
        else:
            self._batch_input_shape = None

    # -- sub-layer tracking ------------------------------------------------------------------
    def __setattr__(self, name, value):
        if isinstance(value, Layer) and name != "_layers":
            if value not in self.__dict__.get("_layers", []):
                self.__dict__.setdefault("_layers", []).append(value)
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Layer) for v in value):
            for v in value:
                if v not in self.__dict__.setdefault("_layers", []):
                    self._layers.append(v)
        object.__setattr__(self, name, value)

    # -- weights -----------------------------------------------------------------------------
    def add_weight(self, name, shape, initializer="glorot_uniform", trainable=True, regularizer=None,
                   constraint=None, dtype=None):
        """Make a weight, initialised now, owned by this layer (Keras's add_weight)."""
        dtype = np.dtype(dtype or self.dtype)
        charge_weights(shape, f"{self.name}/{name}")  # a loaded config may not build more than the cap
        init = initializers.get(initializer)
        value = np.asarray(init(tuple(shape), dtype=dtype), dtype=dtype)
        value = backend.to_device(value, self._device())
        var = Variable(value, name=name, path=f"{self.name}/{name}", trainable=trainable,
                       regularizer=regularizers.get(regularizer), constraint=constraints.get(constraint))
        self._weights.append(var)
        return var

    def _device(self):
        return getattr(self, "_device_name", None) or backend.get_default_device()

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value

    @property
    def weights(self):
        """All weights, own first, then sub-layers' (Keras's order), each once."""
        return _unique(self._weights + [w for layer in self._layers for w in layer.weights])

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        own = [w for w in self._weights if w.trainable]
        return _unique(own + [w for layer in self._layers for w in layer.trainable_weights])

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        own = [w for w in self._weights if not w.trainable]
        trainable = set(map(id, self.trainable_weights))
        rest = [w for layer in self._layers for w in layer.non_trainable_weights]
        return _unique([w for w in own + rest if id(w) not in trainable])

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights

    def get_weights(self):
        """Weights as NumPy arrays, in Keras's order."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        """Set every weight from arrays in `get_weights` order; counts and shapes are checked."""
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"{type(self).__name__} '{self.name}' expects {len(mine)} weight arrays, "
                             f"got {len(weights)}")
        for var, value in zip(mine, weights):
            var.assign(value)

    def count_params(self):
        """Number of scalars in all weights."""
        if not self.built:
            raise ValueError(f"layer '{self.name}' is not built yet: call it on data (or build it) first")
        return int(sum(w.size for w in self.weights))

    @property
    def losses(self):
        """Scalar loss Tensors: those added by the last call (`add_loss`, activity regularizers) of this
        layer and its sub-layers, then the weights' regularisation penalties (Keras's order)."""
        added = [loss for layer in [self] + self.sublayers() for loss in layer._losses]
        return added + [w.regularizer(w) for w in self.trainable_weights if getattr(w, "regularizer", None)]

    def add_loss(self, loss):
        """Add a scalar loss (a Tensor or number) from inside `call`; fit adds it to the training loss."""
        self._losses.append(loss if isinstance(loss, Tensor) else Tensor(np.asarray(loss, dtype=self.dtype)))
        _holding_losses.add(self)

    def sublayers(self):
        """Every layer inside this one, depth first, each once."""
        out, seen, stack = [], set(), list(reversed(self._layers))
        while stack:
            layer = stack.pop()
            if id(layer) not in seen:
                seen.add(id(layer))
                out.append(layer)
                stack.extend(reversed(layer._layers))
        return out

    def _clear_losses(self):
        for layer in [self] + self.sublayers():
            layer._losses = []
            _holding_losses.discard(layer)

    # -- building and calling ----------------------------------------------------------------
    def build(self, input_shape):
        """Create weights for inputs of `input_shape` (batch dim may be None). Default: none."""
        self.built = True

    def call(self, inputs, *args, **kwargs):
        return inputs

    @property
    def _call_has_training_arg(self):
        """Whether `call` declares `training` (Keras's attribute of this name; fit passes the flag only then)."""
        return "training" in call_args(type(self))

    def compute_mask(self, inputs, mask=None):
        """The mask of the outputs: the input mask when the layer supports masking, else None."""
        return mask if self.supports_masking else None

    def __call__(self, *args, **kwargs):
        if _any_keras_tensor(args) or (kwargs and _any_keras_tensor(kwargs.values())):
            return self._call_symbolic(args, kwargs)
        return self._call_eager(args, kwargs)

    def _call_eager(self, args, kwargs):
        """Compute now on Tensors (arrays are wrapped), building weights on the first call."""
        first = args[0]
        if isinstance(first, (list, tuple, dict)):
            leaves = [to_tensor(x, self.dtype if _is_float(x) else None) for x in flatten(first)]
            inputs = pack_like(first, leaves)
        else:  # one input, the common case: no nesting to flatten and rebuild
            inputs = to_tensor(first, self.dtype if _is_float(first) else None)
            leaves = [inputs]
        rest = args[1:]
        if self.input_spec is not None:
            self._check_input(inputs)
        if not self.built:
            self._build_from(inputs)
        accepted = _arg_cache.get(type(self)) or call_args(type(self))
        training = kwargs.pop("training", None)
        training = _phase[0] if training is None else bool(training)  # unset: inherit the caller's flag
        if "training" in accepted:
            kwargs["training"] = training
        explicit = kwargs.get("mask")
        if explicit is not None:  # an explicit mask may come as a Tensor (a graph value): use its array
            kwargs["mask"] = pack_like(explicit, [m.data if isinstance(m, Tensor) else m for m in flatten(explicit)])
        implicit = [getattr(t, "_keras_mask", None) for t in leaves]
        if "mask" in accepted:
            if explicit is None and any(m is not None for m in implicit):
                kwargs["mask"] = implicit[0] if len(implicit) == 1 else pack_like(inputs, implicit)
            mask = kwargs.get("mask")
        else:
            mask = implicit[0] if implicit else None
        if _call_depth[0] == 0 and _holding_losses:  # an entry call drops the previous call's losses, as Keras
            self._clear_losses()
        _call_depth[0] += 1
        previous, _phase[0] = _phase[0], training  # nested layers see this call's training flag
        try:
            outputs = self.call(inputs, *rest, **kwargs)
        finally:
            _call_depth[0] -= 1
            _phase[0] = previous
        if self.activity_regularizer is not None:
            self._add_activity_losses(outputs)
        _attach_masks(outputs, self.compute_mask(inputs, mask), inputs)
        return outputs

    def _add_activity_losses(self, outputs):
        """The activity regularizer's penalty on each output, divided by the batch size (Keras 3)."""
        for out in flatten(outputs):
            if isinstance(out, Tensor):
                penalty = self.activity_regularizer(out)
                self.add_loss(penalty / out.shape[0] if out.ndim > 0 and out.shape[0] else penalty)

    def _build_from(self, inputs):
        """Run `build` with the input shape(s) (a list of shapes for several inputs)."""
        shapes = [tuple(t.shape) for t in flatten(inputs)]
        shape = shapes[0] if not isinstance(inputs, (list, tuple, dict)) else pack_like(inputs, shapes)
        self._build_shapes = shape
        with no_grad():
            self.build(shape)
        self.built = True

    def _check_input(self, inputs):
        """Raise a clear error when the input breaks this layer's `input_spec`."""
        spec = self.input_spec
        if spec is None or isinstance(inputs, (list, tuple, dict)):
            return
        shape = tuple(inputs.shape)
        where = f"{type(self).__name__} '{self.name}'"
        if spec.ndim is not None and len(shape) != spec.ndim:
            raise ValueError(f"{where} expected input with {spec.ndim} dimensions, got shape {shape}")
        if spec.min_ndim is not None and len(shape) < spec.min_ndim:
            raise ValueError(f"{where} expected input with at least {spec.min_ndim} dimensions, got shape {shape}")
        for axis, size in spec.axes.items():
            if size is not None and shape[axis] is not None and shape[axis] != size:
                raise ValueError(f"{where} expected input with dimension {axis} of size {size}, got shape {shape}")

    def _call_symbolic(self, args, kwargs):
        """Record this call in the functional graph and return KerasTensors describing the outputs."""
        inputs = args[0]
        self._check_input(inputs)
        if not self.built:
            shapes = [t.shape for t in flatten(inputs)]
            shape = shapes[0] if not isinstance(inputs, (list, tuple, dict)) else pack_like(inputs, shapes)
            self._build_shapes = shape
            with no_grad():
                self.build(shape)
            self.built = True
        specs = self.compute_output_spec(*args, **kwargs)
        node_index = len(self._inbound_nodes)
        leaves = flatten(specs)
        outs = [KerasTensor(s.shape, s.dtype, name=f"{self.name}_{node_index}_{i}" if len(leaves) > 1 else self.name,
                            history=(self, node_index, i)) for i, s in enumerate(leaves)]
        outputs = pack_like(specs, outs)
        self._inbound_nodes.append(Node(self, args, kwargs, outputs))
        return outputs

    def compute_output_spec(self, *args, **kwargs):
        """Output KerasTensors found by running the layer on dummy batches (sizes 2 and 3 for None dims)."""
        if type(self).compute_output_shape is not Layer.compute_output_shape:
            shapes = [t.shape for t in flatten(args[0])]
            out_shape = self.compute_output_shape(shapes[0] if len(shapes) == 1 else pack_like(args[0], shapes))
            return KerasTensor(out_shape, self.dtype)
        runs = []
        for size in (2, 3):
            dummy_args = pack_like((args, kwargs), [_dummy(t, size) for t in flatten((args, kwargs))])
            with no_grad(), learning_phase(False):
                kw = dict(dummy_args[1])
                kw.pop("training", None)
                if "training" in call_args(type(self)):
                    kw["training"] = False
                out = self._call_eager(dummy_args[0], kw)
            runs.append(out)
        leaves2, leaves3 = flatten(runs[0]), flatten(runs[1])
        specs = []
        for a, b in zip(leaves2, leaves3):
            shape = tuple(n if n == m else None for n, m in zip(a.shape, b.shape))
            specs.append(KerasTensor(shape, a.dtype))
        return pack_like(runs[0], specs)

    def compute_output_shape(self, input_shape):
        """Output shape for `input_shape`; the default runs the layer on dummy data instead."""
        raise NotImplementedError

    # -- configuration -----------------------------------------------------------------------
    def get_config(self):
        """Constructor arguments, with Keras's keys (subclasses add theirs)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        """A new layer from `get_config()` output; serialized objects in it (initializers, regularizers,
        wrapped layers: any `{"class_name", "config"}` value) are built first."""
        config = dict(config)
        if isinstance(config.get("dtype"), dict):  # Keras 3 DTypePolicy
            config["dtype"] = config["dtype"].get("config", {}).get("name", "float32")
        config.pop("batch_shape", None)
        for key, value in config.items():
            if isinstance(value, dict) and "class_name" in value:
                config[key] = deserialize(value)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            cls.build = _marks_built(cls.__dict__["build"])
        register_serializable()(cls)


def _marks_built(build):
    """`build` that also sets `built`, so calling `layer.build(shape)` directly does not build twice (as Keras)."""
    def wrapper(self, *args, **kwargs):
        out = build(self, *args, **kwargs)
        self.built = True
        return out
    wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__ = build.__name__, build.__doc__, build
    return wrapper


def _regularizer(value):
    """A regularizer from a name, config or object (None stays None)."""
    return regularizers.get(value) if value is not None else None


def _unique(items):
    """Items in order, each object once."""
    seen, out = set(), []
    for item in items:
        if id(item) not in seen:
            seen.add(id(item))
            out.append(item)
    return out


def _dtype_name(dtype):
    """A dtype given as name, NumPy dtype or Keras policy dict, as a name string ('float32')."""
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", "float32")
    return backend.as_dtype(dtype).name


def _is_float(x):
    """True for float arrays/Tensors and Python floats."""
    dtype = getattr(x, "dtype", None)
    return isinstance(x, float) or (dtype is not None and np.dtype(dtype).kind == "f")


def _any_keras_tensor(values):
    """Whether any of `values`, or any leaf of a nested one, is a KerasTensor (a symbolic call)."""
    for value in values:
        if isinstance(value, KerasTensor):
            return True
        if isinstance(value, (list, tuple, dict)) and any(isinstance(t, KerasTensor) for t in flatten(value)):
            return True
    return False


def _attach_masks(outputs, mask, inputs):
    """Set `_keras_mask` on each output Tensor (one mask per output, or one for all)."""
    if isinstance(outputs, Tensor) and not isinstance(mask, (list, tuple)):  # one output: no flattening
        if not (outputs is inputs or (isinstance(inputs, (list, tuple, dict)) and
                                      any(outputs is t for t in flatten(inputs)))):
            outputs._keras_mask = mask
        return
    outs = flatten(outputs)
    masks = flatten(mask) if isinstance(mask, (list, tuple)) and len(flatten(mask)) == len(outs) else [mask] * len(outs)
    input_ids = {id(t) for t in flatten(inputs)}
    for t, m in zip(outs, masks):
        if isinstance(t, Tensor) and id(t) not in input_ids:
            t._keras_mask = m


_arg_cache = {}


def call_args(cls):
    """Names of the parameters `cls.call` declares (cached per class)."""
    names = _arg_cache.get(cls)
    if names is None:
        params = inspect.signature(cls.call).parameters
        names = set(params)
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            names |= {"training", "mask"}
        _arg_cache[cls] = names
    return names


def _dummy(t, size):
    """Zeros standing in for a KerasTensor (None dims become `size`); other values pass through."""
    if not isinstance(t, KerasTensor):
        return t
    shape = tuple(size if d is None else d for d in t.shape)
    return Tensor._wrap(np.zeros(shape, dtype=t.dtype), False)


backend.on_clear_session(clear_session)  # keras.backend.clear_session() resets layer names too
backend.register_keras_tensor_type(KerasTensor)
