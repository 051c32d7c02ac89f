"""Pipeline: a plain layer that applies a list of layers in order (Keras 3's preprocessing pipeline).

    augment = Pipeline([RandomFlip(), RandomRotation(0.1)])

Unlike Sequential it is not a model: it has no fit/compile. Called directly, `training` defaults to True
(Keras's choice for augmentation pipelines: pass `training=False` to switch random layers off); inside a
model it follows the model's flag.
"""
from tinydl.io.config import deserialize, serialize
from tinydl.layers.base import KerasTensor, Layer, call_args, flatten, in_layer_call

__all__ = ["Pipeline"]


class Pipeline(Layer):
    """`layers[-1](...layers[1](layers[0](inputs)))`, each layer given `training` when its call takes it."""

    def __init__(self, layers, name=None):
        super().__init__(name=name)
        layers = list(layers) if isinstance(layers, (list, tuple)) else None
        if not layers or not all(isinstance(layer, Layer) for layer in layers):
            raise ValueError(f"Pipeline '{self.name}' needs a non-empty list of layers, got {layers!r}")
        self.layers = layers  # an attribute named as Keras's property: the weights tree says layers/<name>
        self.dtype = layers[0].dtype  # inputs are cast to the first layer's dtype, not float32's default

    def __call__(self, *args, **kwargs):
        # Keras's default: training=True when called directly; inside a model the model's flag wins
        symbolic = any(isinstance(t, KerasTensor) for t in flatten(args[:1]))
        if "training" not in kwargs and not symbolic and not in_layer_call():
            kwargs["training"] = True
        return super().__call__(*args, **kwargs)

    def call(self, inputs, training=None):
        for layer in self.layers:
            takes = "training" in call_args(type(layer))
            inputs = layer(inputs, training=training) if takes and training is not None else layer(inputs)
        return inputs

    def get_config(self):
        return {"layers": [serialize(layer) for layer in self.layers], "name": self.name}

    @classmethod
    def from_config(cls, config):
        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError(f"Pipeline config needs 'layers', a list of serialized layers, got {layers!r}")
        return cls([deserialize(layer) for layer in layers], name=config.get("name"))
