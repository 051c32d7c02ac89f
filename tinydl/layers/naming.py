"""Layer names as Keras gives them: `dense`, then `dense_1`, `dense_2`, ... until clear_session()."""
import re

__all__ = ["clear_session", "unique_name", "snake_case"]

_name_counts = {}


def clear_session():
    """Reset layer-name counters (`dense`, `dense_1`, ... start again), as keras.backend.clear_session."""
    _name_counts.clear()


def unique_name(base):
    """`base`, then `base_1`, `base_2`, ... on later calls."""
    n = _name_counts.get(base, 0)
    _name_counts[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def snake_case(name):
    """CamelCase -> snake_case, as Keras names layers (Conv2D -> conv2d, LSTM -> lstm)."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()
