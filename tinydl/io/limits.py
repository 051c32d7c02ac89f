"""Caps on what a file may make a loader read or build, so that a small hostile file cannot exhaust memory.

    with tinydl.io.limits.load_limits(max_config_bytes=64 << 20, max_weight_elements=2 ** 31):
        model = tinydl.models.load_model("big.keras")      # raise the caps for one trusted load

The caps (per thread, like safe_mode): `max_config_bytes`, the size of a model or training config (the
`.keras` config.json, the `.h5` model_config attribute); `max_member_bytes`, the inflated size of any member
of a `.keras` archive (checked while streaming, so a zip bomb's lying header does not help it); and
`max_weight_elements`, the weights a config may make a model build (checked in `Layer.add_weight`
before allocating). A dataset may never declare more bytes than the model it is loaded into can hold.
Nothing in this module imports from tinydl: layers import it to charge their weights.
"""
import contextlib
import contextvars

__all__ = ["DEFAULT_LIMITS", "load_limits", "current_limits", "weight_budget", "charge_weights"]

DEFAULT_LIMITS = {"max_config_bytes": 16 << 20, "max_member_bytes": 4 << 30, "max_weight_elements": 1 << 28}

_limits = contextvars.ContextVar("tinydl_load_limits", default=DEFAULT_LIMITS)
_budget = contextvars.ContextVar("tinydl_weight_budget", default=None)


@contextlib.contextmanager
def load_limits(**caps):
    """Change some caps (keyword = bytes or elements) for loads inside this block, in this thread."""
    unknown = set(caps) - set(DEFAULT_LIMITS)
    if unknown:
        raise TypeError(f"load_limits() got unknown caps {sorted(unknown)}; known: {sorted(DEFAULT_LIMITS)}")
    for name, value in caps.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"load_limits({name}=...) expects a positive int, got {value!r}")
    token = _limits.set({**_limits.get(), **caps})
    try:
        yield
    finally:
        _limits.reset(token)


def current_limits():
    """The caps in force in this thread (a dict like DEFAULT_LIMITS)."""
    return dict(_limits.get())


@contextlib.contextmanager
def weight_budget(source):
    """Inside this block, weights made by `charge_weights` count against `max_weight_elements`;
    `source` (the file) is named in the error."""
    token = _budget.set([_limits.get()["max_weight_elements"], source])
    try:
        yield
    finally:
        _budget.reset(token)


def charge_weights(shape, where):
    """Count a weight about to be made; ValueError when a file's config asks for more than the cap."""
    budget = _budget.get()
    if budget is None:
        return
    size = 1
    for dim in shape:
        size *= int(dim)
    budget[0] -= size
    if budget[0] < 0:
        cap = _limits.get()["max_weight_elements"]
        raise ValueError(f"{budget[1]}: the model config asks for more than {cap} weight elements (weight "
                         f"'{where}' of shape {tuple(shape)}); if you trust the file, raise the cap with "
                         "tinydl.io.limits.load_limits(max_weight_elements=...)")
