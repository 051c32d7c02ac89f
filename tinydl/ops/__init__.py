"""The differentiable functions, grouped by kind; everything here is also `tinydl.<name>`."""
from tinydl.ops.math import *  # noqa: F401,F403
from tinydl.ops.reduce import *  # noqa: F401,F403
from tinydl.ops.shape import *  # noqa: F401,F403
from tinydl.ops.linalg import *  # noqa: F401,F403
from tinydl.ops.nn import *  # noqa: F401,F403
from tinydl.ops import math as _m, reduce as _r, shape as _s, linalg as _l, nn as _n

__all__ = _m.__all__ + _r.__all__ + _s.__all__ + _l.__all__ + _n.__all__
from tinydl.ops.graph import *  # noqa: F401,F403,E402
from tinydl.ops import graph as _graph  # noqa: E402
__all__ += _graph.__all__
