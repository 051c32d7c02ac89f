"""The transformer blocks give keras_hub's numbers with the same weights (weight order included).

Runs against the real `keras_hub` layers with Keras's torch backend; skipped when they are not
installed. keras_hub's package __init__ pulls in tokenizers and kagglehub, so only the modeling
modules are loaded (their package __init__ files are empty).
"""
import importlib.util
import os
import sys
import types

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch" or importlib.util.find_spec("keras_hub") is None:
    pytest.skip("needs keras_hub and Keras with the torch backend", allow_module_level=True)
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.filterwarnings("ignore::UserWarning")]
KERAS_HUB_ROOT = importlib.util.find_spec("keras_hub").submodule_search_locations[0]


def _keras_hub_modeling(module):
    """A keras_hub.src.layers.modeling module, without running keras_hub/__init__.py."""
    if "keras_hub.src" not in sys.modules:
        root = KERAS_HUB_ROOT
        for name, path in (("keras_hub", root), ("keras_hub.src", os.path.join(root, "src"))):
            package = types.ModuleType(name)
            package.__path__ = [path]
            sys.modules.setdefault(name, package)
    try:
        return importlib.import_module(f"keras_hub.src.layers.modeling.{module}")
    except ImportError as e:  # pragma: no cover - a keras_hub layout we do not know
        pytest.skip(f"keras_hub modeling module {module} not importable: {e}")


from tinydl import layers  # noqa: E402


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


IDS = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]])
REAL = IDS != 0


def embed_both(rng_seed=0):
    """(tinydl TokenAndPositionEmbedding, keras_hub's with the same weights)."""
    ours = layers.TokenAndPositionEmbedding(8, 6, 8, mask_zero=True)
    ours(IDS)
    theirs = _keras_hub_modeling("token_and_position_embedding").TokenAndPositionEmbedding(8, 6, 8, mask_zero=True)
    theirs(IDS)
    theirs.set_weights(ours.get_weights())
    return ours, theirs


def test_token_and_position_embedding_matches_keras_hub():
    ours, theirs = embed_both()
    np.testing.assert_allclose(ours(IDS).numpy(), to_numpy(theirs(IDS)), atol=1e-6)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_encoder_matches_keras_hub_on_real_tokens(normalize_first):
    ours_embed, theirs_embed = embed_both()
    ours = layers.TransformerEncoder(16, 2, normalize_first=normalize_first)
    out = ours(ours_embed(IDS)).numpy()
    theirs = _keras_hub_modeling("transformer_encoder").TransformerEncoder(16, 2, normalize_first=normalize_first)
    theirs(theirs_embed(IDS))
    assert [w.shape for w in theirs.get_weights()] == [w.shape for w in ours.get_weights()]
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(out[REAL], to_numpy(theirs(theirs_embed(IDS)))[REAL], atol=1e-5)


@pytest.mark.parametrize("with_encoder", [False, True])
def test_decoder_matches_keras_hub_on_real_tokens(with_encoder):
    ours_embed, theirs_embed = embed_both()
    rng = np.random.default_rng(0)
    memory = rng.standard_normal((2, 3, 8)).astype("float32")
    ours = layers.TransformerDecoder(16, 2)
    args = (memory,) if with_encoder else ()
    out = ours(ours_embed(IDS), *args).numpy()
    theirs = _keras_hub_modeling("transformer_decoder").TransformerDecoder(16, 2)
    theirs(theirs_embed(IDS), *args)
    assert [w.shape for w in theirs.get_weights()] == [w.shape for w in ours.get_weights()]
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(out[REAL], to_numpy(theirs(theirs_embed(IDS), *args))[REAL], atol=1e-5)


def test_position_encodings_match_keras_hub():
    x = np.zeros((2, 5, 6), "float32")
    sine = _keras_hub_modeling("sine_position_encoding").SinePositionEncoding(max_wavelength=100)
    np.testing.assert_allclose(layers.SinusoidalPositionEncoding(max_wavelength=100)(x).numpy(), to_numpy(sine(x)),
                               atol=1e-6)
    ours = layers.PositionEmbedding(7)
    ours(x)
    theirs = _keras_hub_modeling("position_embedding").PositionEmbedding(7)
    theirs(x)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x).numpy(), to_numpy(theirs(x)), atol=1e-6)
