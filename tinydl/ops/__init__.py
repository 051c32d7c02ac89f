"""The differentiable functions, grouped by kind; everything here is also `tinydl.<name>`."""
from tinydl.ops.math import *  # noqa: F401,F403
from tinydl.ops.reduce import *  # noqa: F401,F403
from tinydl.ops.shape import *  # noqa: F401,F403
from tinydl.ops.linalg import *  # noqa: F401,F403
from tinydl.ops.nn import *  # noqa: F401,F403
from tinydl.ops.losses import *  # noqa: F401,F403
from tinydl.ops.convolution import *  # noqa: F401,F403
from tinydl.ops import math as _m, reduce as _r, shape as _s, linalg as _l, nn as _n
from tinydl.ops import convolution as _conv
from tinydl.ops.rnn import *  # noqa: F401,F403
from tinydl.ops import rnn as _rnn

__all__ = _m.__all__ + _r.__all__ + _s.__all__ + _l.__all__ + _n.__all__
__all__ += _conv.__all__
__all__ += _rnn.__all__
from tinydl.ops import losses as _losses  # noqa: E402
__all__ += _losses.__all__
from tinydl.ops.graph import *  # noqa: F401,F403,E402
from tinydl.ops import graph as _graph  # noqa: E402
__all__ += _graph.__all__
from tinydl.ops.attention import *  # noqa: F401,F403,E402
from tinydl.ops import attention as _attention  # noqa: E402
__all__ += _attention.__all__
from tinydl.ops.norm import *  # noqa: F401,F403,E402
from tinydl.ops import norm as _norm  # noqa: E402
__all__ += _norm.__all__
from tinydl.ops.volumetric import *  # noqa: F401,F403,E402
from tinydl.ops import volumetric as _volumetric  # noqa: E402
__all__ += _volumetric.__all__
# keras.ops's names beyond the ones above (issue 16)
from tinydl.ops.elementwise import *  # noqa: F401,F403,E402
from tinydl.ops.activation import *  # noqa: F401,F403,E402
from tinydl.ops.numpy_ops import *  # noqa: F401,F403,E402
from tinydl.ops.core import *  # noqa: F401,F403,E402
from tinydl.ops.signal import *  # noqa: F401,F403,E402
from tinydl.ops.ctc import *  # noqa: F401,F403,E402
from tinydl.ops import elementwise as _elementwise, activation as _activation  # noqa: E402
from tinydl.ops import numpy_ops as _numpy_ops, core as _core, signal as _signal, ctc as _ctc  # noqa: E402
__all__ += _elementwise.__all__ + _activation.__all__ + _numpy_ops.__all__ + _core.__all__ + _signal.__all__
__all__ += _ctc.__all__
# keras.ops.shape and keras.ops.norm are functions: they take the names of the submodules shape.py and
# norm.py as attributes here (import those modules by their full names: `from tinydl.ops.norm import ...`)
shape = _core.shape  # noqa: E402
norm = _l.norm  # noqa: E402
from tinydl.ops import numpy  # noqa: F401,E402  (keras.ops.numpy)
from tinydl.ops import image  # noqa: F401,E402  (keras.ops.image)
