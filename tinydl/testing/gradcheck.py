"""Compare analytic gradients with central finite differences in float64."""
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from tinydl.autograd import no_grad
from tinydl.tensor import Tensor

__all__ = ["gradcheck", "GradcheckReport", "OpCase"]


@dataclass
class GradcheckReport:
    """What gradcheck found: `ok`, and on failure the input and element with the worst error."""
    ok: bool
    max_abs_error: float = 0.0
    worst_input: int = -1
    worst_index: tuple = ()
    analytic: float = 0.0
    numeric: float = 0.0

    def __bool__(self):
        return self.ok

    def __str__(self):
        if self.ok:
            return f"gradcheck ok (max abs error {self.max_abs_error:.3g})"
        return (f"gradcheck FAILED: input {self.worst_input} element {self.worst_index}: analytic "
                f"{self.analytic:.6g} vs numeric {self.numeric:.6g} (abs error {self.max_abs_error:.3g})")


@dataclass
class OpCase:
    """One entry of the op gradient registry: `fn(*tensors) -> Tensor` and a strategy for its inputs.

    `name` is the public op's name (`tinydl.ops.<name>`); several cases may share a name, told apart
    by `variant` (e.g. "axis=0", "approximate"). `inputs` is a hypothesis strategy drawing a tuple of
    float64 arrays (integer and boolean arrays are passed through as constants); `wrt` lists the
    input positions to differentiate (default: every float one); `kwargs` are keyword arguments
    passed to `fn`; `atol`/`rtol` go to gradcheck. `reference(*arrays) -> array` is the forward
    written independently in NumPy: gradcheck differentiates tinydl's own forward, so only the
    reference catches a wrong forward whose backward matches it.
    """
    name: str
    fn: Callable
    inputs: Any
    wrt: Sequence[int] = None
    atol: float = 1e-6
    rtol: float = 1e-4
    kwargs: dict = field(default_factory=dict)
    variant: str = ""
    reference: Callable = None

    @property
    def id(self):
        """A readable test id: `name` or `name[variant]`."""
        return f"{self.name}[{self.variant}]" if self.variant else self.name

    def check(self, arrays):
        """gradcheck of this case on one drawn tuple of arrays."""
        fn = (lambda *xs: self.fn(*xs, **self.kwargs)) if self.kwargs else self.fn
        return gradcheck(fn, arrays, wrt=self.wrt, atol=self.atol, rtol=self.rtol)


def gradcheck(fn, inputs, wrt=None, eps=1e-6, atol=1e-6, rtol=1e-4, seed=0):
    """Check d(sum(fn(*inputs) * r))/d(input) against central differences, for a fixed random r.

    `inputs` are arrays (converted to float64 Tensors; integer arrays stay constant). Returns a
    GradcheckReport; `bool(report)` says whether every element is within atol + rtol * |numeric|.
    """

    arrays = [np.array(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f" else np.asarray(a)
              for a in inputs]
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    tensors = [Tensor(a, requires_grad=i in wrt) for i, a in enumerate(arrays)]
    out = fn(*tensors)
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    (out * Tensor(weights)).sum().backward()

    def scalar(values):
        """The weighted output sum with input `values` (no tape)."""
        with no_grad():
            result = fn(*[Tensor(v) for v in values])
        return float((result.numpy().astype(np.float64) * weights).sum())

    report = GradcheckReport(ok=True)
    for i in wrt:
        analytic = tensors[i].grad.numpy() if tensors[i].grad is not None else np.zeros_like(arrays[i])
        values = [a.copy() for a in arrays]
        it = np.nditer(arrays[i], flags=["multi_index"])
        for _ in it:
            idx = it.multi_index
            original = values[i][idx]
            values[i][idx] = original + eps
            up = scalar(values)
            values[i][idx] = original - eps
            down = scalar(values)
            values[i][idx] = original
            numeric = (up - down) / (2 * eps)
            error = abs(analytic[idx] - numeric)
            bad = error > atol + rtol * abs(numeric)
            if bad or (report.ok and error > report.max_abs_error):
                if bad and not report.ok and error <= report.max_abs_error:
                    continue
                report = GradcheckReport(ok=report.ok and not bad, max_abs_error=float(error), worst_input=i,
                                         worst_index=idx, analytic=float(analytic[idx]), numeric=float(numeric))
    return report
