"""Tools to test differentiable code: `gradcheck` and hypothesis strategies (public, used by our tests).

    from tinydl.testing import gradcheck
    report = gradcheck(lambda x, w: (x @ w).tanh(), [x0, w0])
    assert report.ok, report
"""
from tinydl.testing.gradcheck import GradcheckReport, OpCase, gradcheck  # noqa: F401
