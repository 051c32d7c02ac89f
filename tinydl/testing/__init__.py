"""Tools to test differentiable code: `gradcheck` and hypothesis strategies (public, used by our tests).

    from tinydl.testing import gradcheck
    report = gradcheck(lambda x, w: (x @ w).tanh(), [x0, w0])
    assert report.ok, report

The strategies (`shapes`, `arrays`, `broadcastable_shapes`, `separated_arrays`, ...) live in
`tinydl.testing.strategies` and are importable from here too; they need `hypothesis` (the `[dev]`
extra), which is imported only when a strategy is first used.
"""
from tinydl.testing.gradcheck import GradcheckReport, OpCase, gradcheck  # noqa: F401

_STRATEGIES = ("shapes", "arrays", "broadcastable_shapes", "separated_arrays", "positive_arrays",
               "array_tuples", "index_arrays")

__all__ = ["gradcheck", "GradcheckReport", "OpCase", *_STRATEGIES]


def __getattr__(name):
    if name in _STRATEGIES:
        from tinydl.testing import strategies
        return getattr(strategies, name)
    raise AttributeError(f"module 'tinydl.testing' has no attribute {name!r}")
