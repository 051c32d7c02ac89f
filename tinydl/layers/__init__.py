"""Layers, Keras names and weight layouts. Each module below adds its layers to this namespace."""
from tinydl.layers.base import (  # noqa: F401
    InputSpec, KerasTensor, Layer, Variable, clear_session, learning_phase,
)
from tinydl.layers.core import *  # noqa: F401,F403
from tinydl.io.config import deserialize, serialize  # noqa: F401  (Keras's layers.serialize / deserialize)
# normalization, embedding, merge, reshaping (core layers)
from tinydl.layers.normalization import *  # noqa: F401,F403
from tinydl.layers.activation import *  # noqa: F401,F403
from tinydl.layers.noise import *  # noqa: F401,F403
# preprocessing
from tinydl.layers.preprocessing import *  # noqa: F401,F403
from tinydl.layers.augmentation import *  # noqa: F401,F403
from tinydl.layers.lookup import *  # noqa: F401,F403
from tinydl.layers.audio import *  # noqa: F401,F403
from tinydl.layers.embedding import *  # noqa: F401,F403
from tinydl.layers.merge import *  # noqa: F401,F403
from tinydl.layers.reshaping import *  # noqa: F401,F403
# convolution and pooling
from tinydl.layers.conv import *  # noqa: F401,F403
from tinydl.layers.pooling import *  # noqa: F401,F403
from tinydl.layers.image import *  # noqa: F401,F403
# recurrent
from tinydl.layers.recurrent import *  # noqa: F401,F403
from tinydl.layers.norms import *  # noqa: F401,F403
from tinydl.layers.cells import *  # noqa: F401,F403
from tinydl.layers.conv_lstm import *  # noqa: F401,F403
from tinydl.layers.pipeline import *  # noqa: F401,F403
from tinydl.layers.einsum_dense import *  # noqa: F401,F403
# attention
from tinydl.layers.attention import *  # noqa: F401,F403
from tinydl.layers.transformer import *  # noqa: F401,F403
# graph
from tinydl.layers.graph import *  # noqa: F401,F403
