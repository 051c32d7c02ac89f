"""Sequential: a plain stack of layers, each feeding the next."""
from tinydl.layers.base import KerasTensor, Layer, unique_name
from tinydl.layers.core import InputLayer
from tinydl.models.functional import FunctionalGraph
from tinydl.models.model import Model
from tinydl.io.config import deserialize, serialize

__all__ = ["Sequential"]


class Sequential(Model):
    """Layers applied in order. Built from the first layer's input shape, an `Input`, or the first data."""

    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(name=name or unique_name("sequential"), trainable=trainable)
        self._stack = []
        self._input_layer = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        """Append a layer (or an `Input(...)`, which fixes the input shape)."""
        if isinstance(layer, KerasTensor):
            layer = layer._keras_history[0]
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise ValueError("an Input can only be the first entry of a Sequential model")
            self._input_layer = layer
            self._rebuild()
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a Layer, got {type(layer).__name__}")
        self._stack.append(layer)
        self._layers.append(layer) if layer not in self._layers else None
        if self._input_layer is None and len(self._stack) == 1 and layer._batch_input_shape is not None:
            self._input_layer = InputLayer(batch_shape=layer._batch_input_shape)
        self._rebuild()

    def pop(self):
        """Remove and return the last layer."""
        if not self._stack:
            raise ValueError("pop() on an empty Sequential model")
        layer = self._stack.pop()
        self._layers.remove(layer)
        self._rebuild()
        return layer

    @property
    def layers(self):
        """The layers, without the InputLayer (as Keras 3)."""
        return list(self._stack)

    def _rebuild(self):
        """Re-trace the functional graph when the input shape is known."""
        self._graph = None
        self.built = False
        if self._input_layer is not None and self._stack:
            x = self._input_layer.output
            for layer in self._stack:
                x = layer(x)
            self._set_graph(FunctionalGraph(self._input_layer.output, x))

    def build(self, input_shape=None):
        if self._graph is None:
            if input_shape is None:
                raise ValueError(f"Sequential '{self.name}' needs an input shape to build")
            self._input_layer = InputLayer(batch_shape=(None,) + tuple(input_shape[1:]))
            self._rebuild()
        self.built = True

    def call(self, inputs, training=None, mask=None):
        if self._graph is None:
            self.build(tuple(inputs.shape))
        return super().call(inputs, training=training)

    def get_config(self):
        layers = []
        if self._input_layer is not None:
            layers.append(serialize(self._input_layer))
        layers += [serialize(layer) for layer in self._stack]
        config = {"name": self.name, "trainable": self.trainable, "layers": layers}
        if self._input_layer is not None:
            config["build_input_shape"] = list(self._input_layer.batch_shape)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        model = cls(name=config.get("name"))
        for entry in config["layers"]:
            model.add(deserialize(entry, custom_objects))
        if model._graph is None and config.get("build_input_shape"):
            model.build(tuple(config["build_input_shape"]))
        return model
