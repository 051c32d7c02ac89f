"""keras.saving: save and load models and weights, and name custom objects so configs can find them."""

from tinydl import models
from tinydl.io import config as io_config
from tinydl.io.file_editor import KerasFileEditor  # noqa: F401

__all__ = ["load_model", "save_model", "load_weights", "save_weights", "register_keras_serializable",
           "get_custom_objects", "get_registered_name", "get_registered_object", "custom_object_scope",
           "CustomObjectScope", "serialize_keras_object", "deserialize_keras_object", "KerasFileEditor"]

_registered_names = {}  # object -> "package>name", for get_registered_name


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model from a `.keras` archive or a `.h5` file."""
    return models.load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    """`model.save(filepath, ...)`: `.keras` archive or `.h5` by the file name."""
    if zipped is False:
        raise ValueError("save_model: zipped=False (an unzipped .keras folder) is not supported by tinydl; "
                         "leave zipped=None or True")
    model.save(filepath, overwrite=overwrite, **kwargs)


def load_weights(model, filepath, skip_mismatch=False, **kwargs):
    """`model.load_weights(filepath, ...)`."""
    model.load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)


def save_weights(model, filepath, overwrite=True, max_shard_size=None, **kwargs):
    """`model.save_weights(filepath, ...)`; the file name must end in `.weights.h5`."""
    if max_shard_size is not None:
        raise ValueError("save_weights: max_shard_size (sharded weights files) is not supported by tinydl, "
                         f"received max_shard_size={max_shard_size!r}")
    if not str(filepath).endswith(".weights.h5"):
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={filepath}")
    model.save_weights(filepath, overwrite=overwrite, **kwargs)


def register_keras_serializable(package="Custom", name=None):
    """Decorator: make a class or function findable from configs as `package>name`."""
    if "|" in str(package):
        raise ValueError(f"register_keras_serializable: the package argument cannot contain '|', "
                         f"received package={package!r}")

    def decorate(obj):
        key = f"{package}>{name or obj.__name__}"
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise ValueError(f"Cannot register a class that does not have a get_config() method: {obj!r}")
        io_config.global_custom_objects()[key] = obj
        io_config.register_serializable(package=package, name=name)(obj)
        _registered_names[obj] = key
        return obj
    return decorate


def get_custom_objects():
    """The global dict of custom objects: `get_custom_objects()["MyLayer"] = MyLayer` registers one."""
    return io_config.global_custom_objects()


def get_registered_name(obj):
    """`package>name` for a registered object, its `__name__` otherwise."""
    return _registered_names.get(obj, getattr(obj, "__name__", None))


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object registered (or passed) under `name`, or None."""
    for scope in (custom_objects or {}, io_config.global_custom_objects(), module_objects or {}):
        if name in scope:
            return scope[name]
    try:
        return io_config.get_registered(name)
    except KeyError:
        return None


class CustomObjectScope:
    """`with CustomObjectScope({"name": obj}):` makes the objects findable by name inside the block."""

    def __init__(self, custom_objects):
        self.custom_objects = dict(custom_objects or {})
        self._scope = None

    def __enter__(self):
        self._scope = io_config.custom_object_scope(self.custom_objects)
        self._scope.__enter__()
        return self

    def __exit__(self, *exc):
        return self._scope.__exit__(*exc)


custom_object_scope = CustomObjectScope


def serialize_keras_object(obj):
    """An object as its `{"module", "class_name", "config", "registered_name"}` dict."""
    return io_config.serialize(obj)


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The object a config (or a registered name) describes."""
    if kwargs:
        raise TypeError(f"deserialize_keras_object got unexpected keyword arguments {sorted(kwargs)}")
    return io_config.deserialize(config, custom_objects=custom_objects, safe_mode=safe_mode)
