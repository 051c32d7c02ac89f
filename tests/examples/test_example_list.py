"""The example list names every example module, and every example has main() and build_model()."""
import importlib
import pkgutil

import tinydl.examples
from tinydl.examples import EXAMPLES


def test_every_example_is_listed_and_runnable_the_same_way():
    modules = sorted(info.name for info in pkgutil.iter_modules(tinydl.examples.__path__))
    assert sorted(EXAMPLES) == modules
    for name in modules:
        module = importlib.import_module(f"tinydl.examples.{name}")
        assert callable(getattr(module, "main", None)), f"{name} has no main()"
        assert callable(getattr(module, "build_model", None)), f"{name} has no build_model()"


def test_every_build_model_returns_a_model_with_weights():
    """build_model() with its defaults makes a tinydl Model that owns trainable weights (checked by building it)."""
    from tinydl.models import Model
    for name in EXAMPLES:
        model = importlib.import_module(f"tinydl.examples.{name}").build_model()
        assert isinstance(model, Model), f"{name}.build_model() returned {type(model).__name__}"
        assert model.count_params() > 0 and model.trainable_weights, name
