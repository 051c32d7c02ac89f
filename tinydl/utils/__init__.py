"""keras.utils: data helpers, files, images, plotting, serialization and session functions.

Pillow (images) and pydot + Graphviz (plot_model) are optional: their functions import them on use.
"""
import random

from tinydl import backend
from tinydl.backend.keras_api import (  # noqa: F401
    clear_session, disable_interactive_logging, enable_interactive_logging, is_interactive_logging_enabled,
    is_keras_tensor, standardize_dtype,
)
from tinydl.callbacks.progbar import Progbar  # noqa: F401
from tinydl.saving import (  # noqa: F401
    CustomObjectScope, custom_object_scope, deserialize_keras_object, get_custom_objects, get_registered_name,
    get_registered_object, register_keras_serializable, serialize_keras_object,
)
from tinydl.utils.config_utils import Config  # noqa: F401
from tinydl.utils.data_utils import (  # noqa: F401
    PyDataset, pack_x_y_sample_weight, split_dataset, timeseries_dataset_from_array, unpack_x_y_sample_weight,
)
from tinydl.utils.directory_utils import image_dataset_from_directory, text_dataset_from_directory  # noqa: F401
from tinydl.datasets.download import get_file  # noqa: F401
from tinydl.utils.image_utils import array_to_img, img_to_array, load_img, save_img  # noqa: F401
from tinydl.utils.model_visualization import model_to_dot, plot_model  # noqa: F401

Sequence = PyDataset  # Keras 3's name for the same class
from tinydl.utils.numerical import normalize, pad_sequences, to_categorical  # noqa: F401


def set_random_seed(seed):
    """Seed every random draw (weights, dropout, shuffling, tinydl.random, NumPy and Python's `random`)."""
    if not isinstance(seed, int):
        raise ValueError(f"Expected `seed` argument to be an integer. Received: seed={seed} (of type {type(seed)})")
    random.seed(seed)
    backend.set_seed(seed)


def get_source_inputs(tensor):
    """The Input tensors a symbolic tensor is computed from."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return [tensor]
    layer, node_index, _ = history
    node = layer._inbound_nodes[node_index]
    if not node.input_tensors:
        return [tensor]
    found = []
    for t in node.input_tensors:
        for source in get_source_inputs(t):
            if not any(source is f for f in found):
                found.append(source)
    return found
