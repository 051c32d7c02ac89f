"""One registry of serializable classes, and Keras's `{"class_name": ..., "config": {...}}` form.

Every public class (layers, models, losses, metrics, optimizers, schedules, initializers,
regularizers) registers under its class name, so a config names a class without running code.
Functions such as activations register too. `Lambda` and other code-carrying objects refuse to be
built from a config unless `safe_mode=False` is passed.
"""
import contextlib
import contextvars

__all__ = ["register_serializable", "serialize", "deserialize", "get_registered", "custom_object_scope",
           "registered_names", "global_custom_objects"]

_REGISTRY = {}
_BY_AREA = {}  # (area, name) -> object, e.g. ("layers", "Identity") and ("initializers", "Identity")
_custom_stack = [{}]
# per thread and per asyncio task, as Keras's: one thread's trusted load never lets another's run code
_safe_mode = contextvars.ContextVar("tinydl_safe_mode", default=True)


def register_serializable(package="tinydl", name=None):
    """Class/function decorator: make it buildable from configs by its name (`package>name` too)."""
    def decorate(obj):
        key = name or obj.__name__
        _REGISTRY[key] = obj
        _BY_AREA[(_area(getattr(obj, "__module__", "") or ""), key)] = obj
        if package != "tinydl":
            _REGISTRY[f"{package}>{key}"] = obj
        return obj
    return decorate


def registered_names(base=None):
    """Names of registered objects, optionally only subclasses of `base`."""
    entries = list(_REGISTRY.items()) + [(k, v) for (_, k), v in _BY_AREA.items()]
    return sorted({k for k, v in entries
                   if ">" not in k and (base is None or (isinstance(v, type) and issubclass(v, base)))})


def _area(module):
    """The part of the library a module belongs to: 'layers' for tinydl.layers.core or keras.src.layers."""
    parts = [p for p in module.split(".")[1:] if p != "src"]
    return parts[0] if parts else ""


def get_registered(name, custom_objects=None, module=None):
    """The registered object called `name` (custom objects searched first); KeyError names it.

    Two classes may share a name in different areas (the Identity layer and initializer, the
    MeanSquaredError loss and metric): `module` (a config's "module", e.g. "keras.layers") picks one.
    """
    for scope in ([custom_objects or {}] + _custom_stack[::-1]):
        if name in scope:
            return scope[name]
    for attempt in range(2):
        if module and (_area(module), name) in _BY_AREA:
            return _BY_AREA[(_area(module), name)]
        candidates = [(_PRIORITY.index(a) if a in _PRIORITY else len(_PRIORITY), obj)
                      for (a, n), obj in _BY_AREA.items() if n == name]
        if len(candidates) > 1:  # the same name in several areas and no module: layers first, then ...
            return min(candidates, key=lambda c: c[0])[1]
        if name in _REGISTRY:
            return _REGISTRY[name]
        if attempt == 0:
            _import_library()  # tinydl's submodules load lazily; a config may name a class not yet imported
    raise KeyError(f"unknown object {name!r}: register it with @tinydl.io.config.register_serializable() "
                   "or pass it in custom_objects={...}")


# which area wins when a bare name (no config "module") exists in several
_PRIORITY = ("layers", "models", "losses", "metrics", "optimizers", "schedules", "callbacks", "initializers",
             "regularizers", "activations")


def _import_library():
    """Import every tinydl module that registers serializable objects."""
    import importlib
    for area in _PRIORITY:
        try:
            importlib.import_module(f"tinydl.{area}")
        except ImportError:
            pass


@contextlib.contextmanager
def custom_object_scope(custom_objects):
    """Objects findable by name inside this block, as keras.utils.custom_object_scope."""
    _custom_stack.append(dict(custom_objects))
    try:
        yield
    finally:
        _custom_stack.pop()


def global_custom_objects():
    """The process-wide dict of custom objects (keras.saving.get_custom_objects): edit it in place."""
    return _custom_stack[0]


def safe_mode():
    """False only inside `deserialize(..., safe_mode=False)` (code from configs may then run)."""
    return _safe_mode.get()


@contextlib.contextmanager
def unsafe_mode(allowed):
    """Let code-carrying objects (Lambda) be built while `allowed` is True."""
    token = _safe_mode.set(not allowed)
    try:
        yield
    finally:
        _safe_mode.reset(token)


def serialize(obj):
    """An object as `{"class_name", "config"}`; registered functions and plain values as themselves."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if hasattr(obj, "get_config"):
        return {"module": _module(obj), "class_name": type(obj).__name__, "config": obj.get_config(),
                "registered_name": type(obj).__name__}
    if callable(obj) and getattr(obj, "__name__", None) in _REGISTRY:
        return obj.__name__
    raise TypeError(f"cannot serialize {obj!r}: it has no get_config() and is not a registered function")


def _module(obj):
    """The Keras-style module string for an object's class (keras.layers for layers, ...)."""
    mod = type(obj).__module__
    return mod.replace("tinydl.", "keras.", 1) if mod.startswith("tinydl.") else mod


def deserialize(config, custom_objects=None, safe_mode=None):
    """Build the object a config describes; strings name registered objects; dicts may nest."""
    if safe_mode is not None:
        with unsafe_mode(not safe_mode):
            return deserialize(config, custom_objects)
    if config is None or isinstance(config, (int, float, bool)):
        return config
    if isinstance(config, str):
        obj = get_registered(config, custom_objects)
        return obj() if isinstance(obj, type) else obj
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"not a serialized object (expected a dict with 'class_name'): {config!r}")
    cls = get_registered(config["class_name"], custom_objects, module=config.get("module"))
    inner = config.get("config", {})
    if hasattr(cls, "from_config"):
        if custom_objects:
            with custom_object_scope(custom_objects):
                return cls.from_config(inner)
        return cls.from_config(inner)
    return cls(**inner)


class ConfigMixin:
    """For small configurable objects (initializers, regularizers, constraints, schedules): rebuilt by
    calling the constructor with `get_config()`'s keys, and shown as `Name(key=value, ...)`."""

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Family:
    """Name resolution for one kind of object (Keras's `get`/`deserialize` of a module).

    `get` accepts None, a name (an alias such as 'l2' or a class name), a config dict, an instance
    or a plain callable; unknown names are a clear error listing the known ones.
    """

    def __init__(self, kind, aliases, base):
        self.kind, self.aliases, self.base = kind, aliases, base
        self.classes = {cls.__name__: cls for cls in aliases.values()}

    def get(self, identifier):
        """The object `identifier` names or describes (see the class docstring)."""
        if identifier is None or isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        if isinstance(identifier, str):
            cls = self.aliases.get(identifier) or self.classes.get(identifier)
            if cls is None:
                raise ValueError(f"unknown {self.kind} {identifier!r}; known: {sorted(self.aliases)}")
            return cls()
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if callable(identifier):
            return identifier
        raise ValueError(f"could not interpret {self.kind} {identifier!r}: expected a name, a config dict, "
                         f"a {self.base.__name__} or a callable")

    def deserialize(self, config, custom_objects=None):
        """Build from `{"class_name", "config"}` (or a name); other registered classes via the registry."""
        if config is None or isinstance(config, str):
            return self.get(config)
        return deserialize_preferring(self.classes, config, custom_objects)


def deserialize_preferring(classes, config, custom_objects=None):
    """Build a `{"class_name", "config"}` dict, looking the class up in `classes` (a module's own, which
    wins over same-named classes of other modules) before the registry."""
    cls = classes.get(config.get("class_name"))
    if cls is None:
        return deserialize(config, custom_objects)
    return cls.from_config(dict(config.get("config") or {}))
