"""Model architectures as Keras 3 writes them in files: `{"class_name", "config"}` with Keras's class and
module names, and back (dropping what Keras records that tinydl has no use for)."""
import json

from tinydl.io.config import deserialize, serialize
from tinydl.io.h5_utils import json_default
from tinydl.io.limits import weight_budget

__all__ = ["KERAS_VERSION", "model_to_config", "model_from_config", "config_to_json", "keras_class_name",
           "with_keras_class_names", "is_model", "keras_layer_order"]

KERAS_VERSION = "3.15.1"      # the Keras version whose files we write (and whose loader we test against)


def model_to_config(model):
    """`{"class_name", "config"}` of a model, with Keras's class names (Functional, Sequential)."""
    if getattr(model, "inputs", None) is None and type(model).get_config.__qualname__ == "Model.get_config":
        raise ValueError(f"cannot save subclassed model '{model.name}' ({type(model).__name__}) with its architecture: "
                         "it has no functional graph and no get_config() of its own. Save its weights with "
                         "model.save_weights('w.weights.h5') and rebuild it in code, or define get_config()")
    config = serialize(model)
    config["class_name"] = keras_class_name(model)
    return with_keras_class_names(config)


def model_from_config(config, custom_objects=None, safe_mode=True, source="the model config"):
    """Build the model a `{"class_name", "config"}` dict describes (Functional/Model/Sequential or registered)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("the model config is not a {'class_name': ..., 'config': ...} dict")
    with weight_budget(source):  # a hostile config may not build more weights than the cap
        model = deserialize(_drop_keras_only(config), custom_objects, safe_mode=safe_mode)
    if not is_model(model):
        raise ValueError(f"the config describes a {type(model).__name__}, not a model")
    return model


# Config keys Keras 3 writes that have no tinydl counterpart; dropped when they hold their default.
_KERAS_ONLY = {"optional": False, "quantization_config": None, "lora_rank": None, "lora_alpha": None,
               "input_axes": None, "output_axes": None, "sliding_window": None, "use_gate": False,
               "renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99}


def _drop_keras_only(config):
    """A config without Keras-only keys at their default values (so Keras's files build tinydl layers)."""
    if isinstance(config, dict):
        out = {k: _drop_keras_only(v) for k, v in config.items()}
        if isinstance(out.get("kwargs"), dict) and "args" in out and "mask" in out["kwargs"] and \
                out["kwargs"]["mask"] is None:  # Keras records mask=None
            out["kwargs"] = {k: v for k, v in out["kwargs"].items() if k != "mask"}
        if isinstance(out.get("layers"), list) and "output_layers" in out:
            out["layers"] = _drop_mask_ops(out)
        inner = out.get("config")
        if "class_name" in out and isinstance(inner, dict):
            out["config"] = {k: v for k, v in inner.items() if not (k in _KERAS_ONLY and v == _KERAS_ONLY[k])}
        return out
    if isinstance(config, list):
        return [_drop_keras_only(v) for v in config]
    return config


_KERAS_MASK_OPS = {"NotEqual", "Any", "Equal", "LogicalAnd", "LogicalOr", "LogicalNot", "Squeeze", "ExpandDims"}


def _is_mask_op(entry):
    """An op node Keras may record for a mask: a known mask op, or any keras.ops node (Concatenate's mask
    uses ZerosLike, LogicalOr and the Concatenate op); those still used by real layers are kept."""
    return entry.get("class_name") in _KERAS_MASK_OPS or str(entry.get("module", "")).startswith("keras.src.ops")


def _is_keras_tensor_ref(value):
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _drop_mask_ops(config):
    """A functional config's layers without the ops Keras records to compute masks (Masking's NotEqual and
    Any, passed on as `mask=` arguments): tinydl's layers carry masks implicitly, so those arguments go,
    then op layers that nothing uses any more."""
    ops = {e.get("name") for e in config["layers"] if _is_mask_op(e)}
    layers = []
    for entry in config["layers"]:
        nodes = []
        for node in entry.get("inbound_nodes", []):
            mask = node.get("kwargs", {}).get("mask") if isinstance(node, dict) else None
            if _is_keras_tensor_ref(mask) and mask["config"]["keras_history"][0] in ops:
                node = dict(node, kwargs={k: v for k, v in node["kwargs"].items() if k != "mask"})
            nodes.append(node)
        layers.append(dict(entry, inbound_nodes=nodes) if "inbound_nodes" in entry else entry)
    config = dict(config, layers=layers)
    while True:
        used = set(_referenced_layers(config["output_layers"]))
        for entry in layers:
            used.update(_referenced_layers(entry.get("inbound_nodes", [])))
        keep = [e for e in layers if not _is_mask_op(e) or e.get("name") in used]
        if len(keep) == len(layers):
            return keep
        layers = keep
        config = dict(config, layers=layers)


def _referenced_layers(value):
    """Names of layers a config fragment refers to (node arguments and [name, node, tensor] refs)."""
    if _is_keras_tensor_ref(value):
        return [value["config"]["keras_history"][0]]
    if isinstance(value, list) and len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
        return [value[0]]
    if isinstance(value, list):
        return [n for v in value for n in _referenced_layers(v)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _referenced_layers(v)]
    return []


def keras_class_name(model):
    """'Functional' for graph models built by Model(inputs, outputs), else the class name."""
    if type(model).__name__ == "Model" and getattr(model, "inputs", None) is not None:
        return "Functional"
    return type(model).__name__


def with_keras_class_names(config):
    """A config as Keras writes it: nested graph models are 'Functional', built-ins name Keras's public
    modules (keras.layers, keras.initializers, ...) and carry no registered_name."""
    if isinstance(config, dict):
        out = {k: with_keras_class_names(v) for k, v in config.items()}
        if out.get("class_name") == "Model" and isinstance(out.get("config"), dict) and "layers" in out["config"]:
            out["class_name"] = "Functional"
            out["module"] = "keras.src.models.functional"
        module = out.get("module")
        if isinstance(module, str) and module.startswith("keras.") and "class_name" in out:
            parts = module.split(".")
            if parts[1] == "models":
                out["module"] = "keras.src.models.functional" if out["class_name"] == "Functional" else "keras"
            elif parts[1] != "src":
                out["module"] = ".".join(parts[:2])
            out["registered_name"] = None
        return out
    if isinstance(config, list):
        return [with_keras_class_names(v) for v in config]
    return config


def is_model(obj):
    """Whether `obj` is a model (known by its API: saving sits below `tinydl.models` and does not import it)."""
    return callable(getattr(obj, "fit", None)) and hasattr(obj, "layers")


def keras_layer_order(model):
    """`model.layers` in the order Keras 3 lists them (weights are matched by it): a functional model's
    graph decides (`Graph.keras_layer_order`); Sequential and subclassed models keep their own order."""
    graph = getattr(model, "_graph", None)
    if graph is None or type(model).__name__ == "Sequential":
        return model.layers
    return graph.keras_layer_order()


def config_to_json(config):
    """A config (which may hold NumPy scalars and tuples) as a JSON string."""
    return json.dumps(config, default=json_default)
