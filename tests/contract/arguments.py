"""Every constructor argument of every layer, set to a value other than its default (issue 17's "Done means").

`ARGUMENT_CASES` names, per layer class, the arguments the base layer needs and the inputs it runs on, plus
the values of the arguments no generic rule covers. `generic_change` covers the rest by the argument's name:
regularizers become "l2", constraints "non_neg", initializers "ones" (or "zeros"), booleans flip, dropout rates
become 0.5, and so on. `test_layer_arguments.py` checks that each changed argument round-trips through
`get_config` and changes what the layer does (its outputs, masks, weights, penalties or one SGD step).
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

import tinydl as td
from tinydl import initializers, layers as L
from tinydl.layers.graph import GATConv, GCNConv, GINConv, GlobalMaxPool, GlobalMeanPool, GlobalSumPool, SAGEConv
from tests.contract.cases_graph import graph_inputs, pool_inputs


@dataclass
class Change:
    """A non-default value; `context` is set on both layers compared (e.g. a dropout rate for `seed`), `call` is
    added to the call's keyword arguments, `shapes` and `dtypes` replace the case's input shapes and dtypes."""
    value: Any
    context: dict = field(default_factory=dict)
    call: dict = field(default_factory=dict)
    shapes: Any = None
    dtypes: Any = None


class Fresh:
    """A value made anew for every layer (sub-layers cannot be shared between the layers compared)."""

    def __init__(self, make):
        self.make = make

    def __repr__(self):
        return "Fresh(...)"


class ForLayer:
    """A call argument made for the layer being observed (a cell's states, sized by its own state_size)."""

    def __init__(self, make):
        self.make = make

    def __repr__(self):
        return "ForLayer(...)"


@dataclass
class ArgumentCase:
    """How to make one layer class with its required arguments (`base`) and run it."""
    cls: type
    base: dict = field(default_factory=dict)
    shapes: Any = None
    dtypes: Any = None
    int_high: int = 5
    make_inputs: Optional[Callable] = None
    call: dict = field(default_factory=dict)
    changes: dict = field(default_factory=dict)

    @property
    def id(self):
        return self.cls.__name__


# Arguments that set how a layer is computed, never what: {argument: (a non-default value, why the numbers
# stay the same)}; the test checks they round-trip and that the numbers are indeed the same.
SAME_NUMBERS = {
    "implementation": (1, "picks Keras's kernel variant; tinydl has one fused kernel"),
    "use_cudnn": (False, "picks cuDNN on a GPU; tinydl's kernels give the same numbers"),
    "unroll": (True, "Keras unrolls the loop symbolically; tinydl's fused loop gives the same numbers"),
    "flash_attention": (True, "a faster kernel for the same attention"),
    "synchronized": (True, "synchronises statistics across replicas: one process here (tests/distribution)"),
    # (class name, argument): the same for one class only; these keep the round-trip checks of their configs
    ("Discretization", "epsilon"): (0.5, "Keras's adapt approximates quantiles within epsilon; tinydl's adapt takes "
                                         "exact ones (within any epsilon), and given bin_boundaries ignore it"),
    ("RandomBrightness", "data_format"): ("channels_first", "one shift per image, on every axis: no channel axis to "
                                                            "find (Keras's ignores it too)"),
    ("RandomInvert", "data_format"): ("channels_first", "one choice per image, on every axis: no channel axis to "
                                                        "find (Keras's ignores it too)"),
    ("Solarization", "data_format"): ("channels_first", "one addition and threshold per image, on every axis: no "
                                                        "channel axis to find (Keras's ignores it too)"),
    ("RandomPosterization", "data_format"): ("channels_first", "one bit count per image, on every value: no "
                                                               "channel axis to find (Keras's ignores it too)"),
    ("MixUp", "data_format"): ("channels_first", "mixes whole images: no channel axis to find (Keras's ignores it "
                                                 "too)"),
    ("IntegerLookup", "salt"): (7, "Keras uses it only with oov_method='farmhash'; 'floormod', the only method "
                                   "tinydl has (and Keras's default), takes no salt"),
    ("SpectralNormalization", "dtype"): ("float64", "Keras 3.15's SpectralNormalization also computes in its wrapped "
                                                    "layer's dtype (vector_u takes the kernel's)"),
}

# Arguments whose behaviour this test cannot observe on one layer, by name or (class name, name).
NOT_OBSERVED_HERE = {
    "input_shape": "makes Sequential's Input layer (tests/models)",
    "input_dim": "makes Sequential's Input layer (tests/models)",
    "batch_input_shape": "makes Sequential's Input layer (tests/models)",
    "batch_size": "makes Sequential's Input layer (tests/models)",
    "input_length": "accepted and ignored by Keras 3 itself (deprecated there)",
    ("TimeDistributed", "dtype"): "Keras 3.15's TimeDistributed also computes in its inner layer's dtype",
    ("AdditiveAttention", "score_mode"): "Keras's AdditiveAttention accepts it through **kwargs and ignores it "
                                         "too (always additive)",
}

MASK = np.array([[True, True, True, False], [True, False, True, True]])


def generic_change(arg, default):
    """A non-default value for an argument recognised by its name, or None."""
    if arg in SAME_NUMBERS:
        return Change(SAME_NUMBERS[arg][0])
    if arg == "name":
        return Change("custom_name")
    if arg == "trainable":
        return Change(False)
    if arg == "dtype":
        return Change("float64")
    if arg.endswith("regularizer"):
        return Change("l2")
    if arg.endswith("constraint"):
        return Change("non_neg")
    if arg.endswith("initializer"):
        return Change("zeros" if "ones" in str(default).lower() else "ones")
    if arg in ("activation", "recurrent_activation"):
        return Change("tanh" if default == "relu" else "relu")
    if isinstance(default, bool):
        return Change(not default)
    if arg in ("dropout", "rate", "recurrent_dropout"):
        return Change(0.5)
    if arg == "data_format":
        return Change("channels_first")
    if arg in ("epsilon", "layer_norm_epsilon"):
        return Change(0.5)
    return None


def _seeded(rate_arg="dropout"):
    """`seed` matters only where something is random: compare two seeds at a dropout rate of 0.5."""
    return Change(3, context={rate_arg: 0.5})


# gammas start at ones and stay positive after one step, where non_neg changes nothing: start them at zeros
# (both layers compared), so the randomised gammas straddle zero and the constraint clips the negative ones
_GAMMA_CONSTRAINT = Change("non_neg", context={"gamma_initializer": "zeros"})
# a few biases near zero may all stay positive after one step (Conv3D's did): start them at -1 so non_neg bites
_BIAS_CONSTRAINT = Change("non_neg", context={"bias_initializer": initializers.Constant(-1.0)})


def _masking_inputs(rng):
    """A (2, 4, 3) batch whose second sample ends with two steps of ones (masked when mask_value=1)."""
    x = rng.standard_normal((2, 4, 3))
    x[1, 2:] = 1.0
    return [x]


def _ids(rng):
    ids = rng.integers(1, 9, size=(2, 5))
    ids[0, 3:] = 0
    return [ids.astype("int64")]


def _recurrent(cls, **changes):
    return ArgumentCase(cls, {"units": 3}, (2, 4, 3), changes={
        "units": Change(2), "seed": _seeded(),
        "zero_output_for_mask": Change(True, context={"return_sequences": True}, call={"mask": MASK}),
        "stateful": Change(True), **changes})


def _conv(cls, shapes, filters=4, **changes):
    base = {"filters": filters, "kernel_size": 3} if filters else {"kernel_size": 3}
    common = {"kernel_size": Change(2), "strides": Change(2), "padding": Change("same"), "dilation_rate": Change(2)}
    if filters:
        common["filters"] = Change(filters - 1)
    return ArgumentCase(cls, base, shapes, changes={**common, **changes})


def _pooling(cls, shapes):
    return ArgumentCase(cls, {"pool_size": 2}, shapes,
                        changes={"pool_size": Change(3), "strides": Change(1), "padding": Change("same")})


def _strings(rng):
    """Tokens as an object array, with the UTF-8 bytes of "\u00e9" (latin-1 reads them as two other letters)."""
    words = np.array(["a", "b", "c", "d", "z", "", "\u00e9".encode("utf-8")], dtype=object)
    return [words[rng.integers(0, 7, (3, 4))]]


def _integers(rng):
    return [np.array([12, 36, 1138, 42, 7, 0])[rng.integers(0, 6, (3, 4))].astype("int64")]


def _texts(rng):
    return [np.array([["The quick fox."], ["a FOX, a dog"], ["quick quick \u00e9".encode("utf-8")]], dtype=object)]


def _between_boundaries(rng):
    return [rng.uniform(-1.5, 2.5, (3, 4)).round(2) + 0.005]  # never on a boundary


def _category_ids(rng):
    return [rng.integers(0, 5, (3, 4)).astype("int64")]


def _affine(cls, base, **changes):
    """An augmentation case in training mode on (2, 5, 6, 3) images, with the shared fill arguments."""
    return ArgumentCase(cls, base, (2, 5, 6, 3), call={"training": True}, changes={
        "fill_mode": Change("constant"), "interpolation": Change("nearest"),
        "fill_value": Change(0.5, context={"fill_mode": "constant"}), "seed": Change(3), **changes})


def _image(cls, base, **changes):
    return ArgumentCase(cls, base, (2, 5, 6, 3), call={"training": True}, changes={"seed": Change(3), **changes})


MASK3 = MASK[:, :3]  # three steps, for the convolutional LSTMs


def _conv_lstm(cls, shapes):
    return ArgumentCase(cls, {"filters": 2, "kernel_size": 2}, shapes, changes={
        "filters": Change(3), "kernel_size": Change(3, context={"padding": "same"}), "strides": Change(2),
        "padding": Change("same"), "dilation_rate": Change(2), "seed": _seeded(),
        "zero_output_for_mask": Change(True, context={"return_sequences": True}, call={"mask": MASK3}),
        "stateful": Change(True)})


def _states(state_size):
    """Incoming states of batch 2 in a cell's state structure: a (2, n) tensor of 0.5 per size."""
    if isinstance(state_size, (list, tuple)):
        return [_states(size) if isinstance(size, (list, tuple)) else _states(size)[0] for size in state_size]
    return [td.tensor(np.full((2, state_size), 0.5, dtype="float32"))]


# a cell is called on one (2, 3) step with its states, as RNN calls it (training mode: dropout acts)
_CELL_STATES = {"states": ForLayer(lambda cell: _states(cell.state_size))}


def _cell(cls):
    return ArgumentCase(cls, {"units": 3}, (2, 3), call=_CELL_STATES, changes={"units": Change(2), "seed": _seeded()})


ARGUMENT_CASES = [
    # core
    ArgumentCase(L.Dense, {"units": 4}, (3, 5), changes={
        "units": Change(3), "lora_rank": Change(2), "lora_alpha": Change(4.0, context={"lora_rank": 2}),
        "quantization_config": Change({"mode": "int8"})}),
    ArgumentCase(L.Activation, {"activation": "sigmoid"}, (2, 3, 4)),
    ArgumentCase(L.Dropout, {"rate": 0.5}, (3, 4), changes={
        "rate": Change(0.25), "noise_shape": Change((None, 1)), "seed": Change(3)}),
    ArgumentCase(L.Flatten, {}, (2, 3, 2, 2)),
    ArgumentCase(L.Reshape, {"target_shape": (3, 4)}, (2, 12), changes={"target_shape": Change((4, 3))}),
    ArgumentCase(L.Lambda, {"function": lambda x, k=1.0: x * k}, (2, 3), changes={
        "function": Change(lambda x, k=1.0: x * k + 1.0), "output_shape": Change((4,)),
        "mask": Change(lambda inputs, mask=None: inputs[:, 0] > 0), "arguments": Change({"k": 2.0})}),
    ArgumentCase(L.Identity, {}, (2, 3)),
    ArgumentCase(L.ActivityRegularization, {}, (2, 3, 4), changes={"l1": Change(0.1), "l2": Change(0.1)}),
    # normalization
    ArgumentCase(L.BatchNormalization, {}, (4, 2, 3), call={"training": True}, changes={
        "axis": Change(1), "momentum": Change(0.5), "gamma_constraint": _GAMMA_CONSTRAINT,
        "renorm_clipping": Change({"rmax": 2.0}, context={"renorm": True}),
        "renorm_momentum": Change(0.5, context={"renorm": True})}),
    ArgumentCase(L.LayerNormalization, {}, (2, 3, 4), changes={"axis": Change([1, 2]),
                                                               "gamma_constraint": _GAMMA_CONSTRAINT}),
    # embedding
    ArgumentCase(L.Embedding, {"input_dim": 7, "output_dim": 3}, (2, 4), dtypes="int64", int_high=7, changes={
        "input_dim": Change(9), "output_dim": Change(4), "lora_rank": Change(2),
        "lora_alpha": Change(4.0, context={"lora_rank": 2}), "quantization_config": Change({"mode": "int8"}),
        "weights": Change([np.arange(21, dtype="float32").reshape(7, 3)])}),
    # the reverse arguments act on reverse calls: vectors (2, 4, 3) to logits over the 7 ids
    ArgumentCase(L.ReversibleEmbedding, {"input_dim": 7, "output_dim": 3}, (2, 4), dtypes="int64", int_high=7,
                 changes={"input_dim": Change(9), "output_dim": Change(4),
                          "tie_weights": Change(False, call={"reverse": True}, shapes=(2, 4, 3), dtypes="float32"),
                          "reverse_dtype": Change("float64", call={"reverse": True}, shapes=(2, 4, 3),
                                                  dtypes="float32"),
                          "logit_soft_cap": Change(0.5, call={"reverse": True}, shapes=(2, 4, 3), dtypes="float32"),
                          "lora_rank": Change(2), "lora_alpha": Change(4.0, context={"lora_rank": 2}),
                          "quantization_config": Change({"mode": "int8"}),
                          "weights": Change([np.arange(21, dtype="float32").reshape(7, 3)])}),
    # reshaping
    ArgumentCase(L.Permute, {"dims": (1, 3, 2)}, (2, 3, 4, 2), changes={"dims": Change((2, 1, 3))}),
    ArgumentCase(L.RepeatVector, {"n": 3}, (2, 4), changes={"n": Change(2)}),
    ArgumentCase(L.Cropping1D, {}, (2, 5, 3), changes={"cropping": Change((0, 2))}),
    ArgumentCase(L.Cropping2D, {"cropping": 1}, (2, 4, 5, 3), changes={"cropping": Change(((1, 0), (0, 1)))}),
    ArgumentCase(L.ZeroPadding2D, {}, (2, 3, 3, 2), changes={"padding": Change(((1, 2), (0, 1)))}),
    ArgumentCase(L.UpSampling2D, {}, (2, 3, 2, 2), changes={"size": Change((2, 3)), "interpolation": Change("bilinear")}),
    # merge
    *[ArgumentCase(cls, {}, [(2, 3, 4), (2, 3, 4)]) for cls in (L.Add, L.Subtract, L.Multiply, L.Average,
                                                                L.Maximum, L.Minimum)],
    ArgumentCase(L.Concatenate, {}, [(2, 3, 4), (2, 3, 4)], changes={"axis": Change(1)}),
    ArgumentCase(L.Dot, {"axes": 1}, [(2, 3, 4), (2, 3, 4)], changes={"axes": Change(2)}),
    # convolution and pooling
    _conv(L.Conv1D, (2, 7, 4), groups=Change(2)),
    _conv(L.Conv2D, (2, 5, 6, 4), groups=Change(2)),
    _conv(L.Conv2DTranspose, (2, 3, 3, 2), filters=3, output_padding=Change(1, context={"strides": 2})),
    _conv(L.DepthwiseConv2D, (2, 5, 6, 3), filters=None, depth_multiplier=Change(2)),
    _conv(L.SeparableConv2D, (2, 6, 5, 2), depth_multiplier=Change(2),
          # channels_first reads (2, 6, 5, 2) as 6 channels of 5 x 2, smaller than the 3 x 3 kernel
          data_format=Change("channels_first", shapes=(2, 6, 5, 4))),
    _pooling(L.MaxPooling1D, (2, 7, 2)),
    _pooling(L.AveragePooling1D, (2, 7, 2)),
    _pooling(L.MaxPooling2D, (2, 5, 5, 3)),
    _pooling(L.AveragePooling2D, (2, 5, 5, 3)),
    *[ArgumentCase(cls, {}, shape) for cls, shape in ((L.GlobalAveragePooling1D, (2, 5, 3)),
                                                      (L.GlobalMaxPooling1D, (2, 5, 3)),
                                                      (L.GlobalAveragePooling2D, (2, 4, 3, 2)),
                                                      (L.GlobalMaxPooling2D, (2, 4, 3, 2)))],
    # recurrent
    _recurrent(L.SimpleRNN),
    _recurrent(L.LSTM),
    _recurrent(L.GRU),
    ArgumentCase(L.Bidirectional, {"layer": Fresh(lambda: L.LSTM(2, return_sequences=True))}, (2, 4, 3), changes={
        "layer": Change(Fresh(lambda: L.GRU(2, return_sequences=True))), "merge_mode": Change("sum"),
        "backward_layer": Change(Fresh(lambda: L.LSTM(2, return_sequences=True, go_backwards=True,
                                                      activation="relu"))),
        "weights": Change([np.full(s, 0.1, "float32") for s in [(3, 8), (2, 8), (8,)] * 2])}),
    ArgumentCase(L.TimeDistributed, {"layer": Fresh(lambda: L.Dense(3))}, (2, 4, 5),
                 changes={"layer": Change(Fresh(lambda: L.Dense(2)))}),
    ArgumentCase(L.Masking, {}, make_inputs=_masking_inputs, changes={"mask_value": Change(1.0)}),
    # attention and transformer blocks
    ArgumentCase(L.MultiHeadAttention, {"num_heads": 2, "key_dim": 3}, [(2, 4, 6), (2, 5, 6)], changes={
        "num_heads": Change(1), "key_dim": Change(2), "value_dim": Change(4), "output_shape": Change(5),
        "attention_axes": Change((2,), shapes=[(2, 3, 4, 6), (2, 3, 4, 6)]), "seed": _seeded()}),
    ArgumentCase(L.Attention, {}, [(2, 4, 6), (2, 5, 6)],
                 changes={"score_mode": Change("concat"), "seed": _seeded()}),
    ArgumentCase(L.AdditiveAttention, {}, [(2, 4, 6), (2, 5, 6)]),
    ArgumentCase(L.PositionEmbedding, {"sequence_length": 7}, (2, 5, 4), changes={"sequence_length": Change(9)}),
    ArgumentCase(L.SinusoidalPositionEncoding, {}, (2, 5, 6), changes={"max_wavelength": Change(100.0)}),
    ArgumentCase(L.TokenAndPositionEmbedding, {"vocabulary_size": 10, "sequence_length": 6, "embedding_dim": 4},
                 make_inputs=_ids, changes={"vocabulary_size": Change(12), "sequence_length": Change(7),
                                            "embedding_dim": Change(3)}),
    *[ArgumentCase(cls, {"intermediate_dim": 12, "num_heads": 2}, (2, 5, 8), changes={
        "intermediate_dim": Change(16), "num_heads": Change(4)}) for cls in (L.TransformerEncoder,
                                                                              L.TransformerDecoder)],
    # activation layers
    ArgumentCase(L.ReLU, {}, (2, 3, 4), changes={
        "max_value": Change(0.5), "negative_slope": Change(0.1), "threshold": Change(0.3)}),
    ArgumentCase(L.LeakyReLU, {}, (2, 3, 4), changes={"negative_slope": Change(0.1)}),
    ArgumentCase(L.PReLU, {}, (2, 3, 4), changes={"shared_axes": Change([1])}),
    ArgumentCase(L.ELU, {}, (2, 3, 4), changes={"alpha": Change(0.5)}),
    ArgumentCase(L.Softmax, {}, (2, 3, 4), changes={"axis": Change(1)}),
    # noise and dropout variants, in training mode
    ArgumentCase(L.GaussianNoise, {"stddev": 0.1}, (3, 4), call={"training": True}, changes={
        "stddev": Change(0.3), "seed": Change(3)}),
    ArgumentCase(L.GaussianDropout, {"rate": 0.3}, (3, 4), call={"training": True}, changes={"seed": Change(3)}),
    ArgumentCase(L.AlphaDropout, {"rate": 0.3}, (3, 4), call={"training": True}, changes={
        "noise_shape": Change((None, 1)), "seed": Change(3)}),
    *[ArgumentCase(cls, {"rate": 0.5}, shape, call={"training": True}, changes={
        "rate": Change(0.25), "seed": Change(3), "noise_shape": Change([None] * len(shape))})
      for cls, shape in ((L.SpatialDropout1D, (2, 4, 3)), (L.SpatialDropout2D, (2, 3, 3, 4)),
                         (L.SpatialDropout3D, (2, 2, 2, 2, 3)))],
    # more normalisation
    ArgumentCase(L.UnitNormalization, {}, (2, 3, 4), changes={"axis": Change(1)}),
    ArgumentCase(L.RMSNormalization, {}, (2, 3, 4), changes={"axis": Change([1, 2]), "epsilon": Change(10.0)}),
    ArgumentCase(L.GroupNormalization, {"groups": 2}, (2, 4, 6), changes={
        "groups": Change(3), "axis": Change(1), "gamma_constraint": _GAMMA_CONSTRAINT}),
    ArgumentCase(L.SpectralNormalization, {"layer": Fresh(lambda: L.Dense(3))}, (2, 4), call={"training": True},
                 changes={"layer": Change(Fresh(lambda: L.Dense(2))), "power_iterations": Change(3)}),
    # preprocessing
    ArgumentCase(L.Rescaling, {"scale": 0.5}, (2, 3, 4), changes={"scale": Change(2.0), "offset": Change(1.0)}),
    # (4, 8) to (3, 4): a downscale (antialias) to another aspect ratio (crop_to / pad_to_aspect_ratio)
    ArgumentCase(L.Resizing, {"height": 3, "width": 4}, (2, 4, 8, 2), changes={
        "height": Change(2), "width": Change(5), "interpolation": Change("nearest"), "fill_mode": Change("reflect"),
        "fill_value": Change(0.5, context={"pad_to_aspect_ratio": True})}),
    ArgumentCase(L.CenterCrop, {"height": 2, "width": 3}, (2, 5, 6, 2), changes={
        "height": Change(3), "width": Change(4)}),
    ArgumentCase(L.Normalization, {"mean": [1.0, -1.0, 0.5], "variance": [4.0, 0.25, 1.0]}, (2, 4, 3), changes={
        "axis": Change(1, shapes=(2, 3, 3)), "mean": Change([0.0, 1.0, 2.0]), "variance": Change([1.0, 2.0, 3.0])}),
    ArgumentCase(L.STFTSpectrogram, {"frame_length": 8}, (2, 20, 2), changes={
        "mode": Change("psd"), "frame_length": Change(6), "frame_step": Change(3), "fft_length": Change(16),
        "window": Change("hamming"), "periodic": Change(True), "scaling": Change("spectrum"), "padding": Change("same"),
        "expand_dims": Change(True), "data_format": Change("channels_first", shapes=(2, 20, 20))}),
    ArgumentCase(L.MelSpectrogram, {"fft_length": 16, "sequence_stride": 4, "num_mel_bins": 4, "sampling_rate": 800},
                 (2, 40), changes={
                     "fft_length": Change(32), "sequence_stride": Change(5), "sequence_length": Change(12),
                     "window": Change("hamming"), "sampling_rate": Change(1000), "num_mel_bins": Change(5),
                     "min_freq": Change(50.0), "max_freq": Change(300), "power_to_db": Change(False),
                     "top_db": Change(5.0), "mag_exp": Change(1.0), "min_power": Change(10.0),
                     "ref_power": Change(2.0)}),
    ArgumentCase(L.Discretization, {"bin_boundaries": [-1.0, 0.0, 1.0]}, make_inputs=_between_boundaries, changes={
        "bin_boundaries": Change([0.0, 0.5]), "num_bins": Change(3), "output_mode": Change("one_hot"),
        "dtype": Change("float64", context={"output_mode": "one_hot"})}),
    ArgumentCase(L.CategoryEncoding, {"num_tokens": 5}, make_inputs=_category_ids, changes={
        "num_tokens": Change(6), "output_mode": Change("count"), "dtype": Change("float64")}),
    # augmentation, in training mode
    _image(L.RandomFlip, {}, mode=Change("horizontal")),
    _affine(L.RandomRotation, {"factor": 0.2}, factor=Change(0.4)),
    _affine(L.RandomZoom, {"height_factor": (0.2, 0.4)}, height_factor=Change((0.5, 0.6)),
            width_factor=Change((-0.3, -0.1))),
    _affine(L.RandomTranslation, {"height_factor": (0.2, 0.3), "width_factor": (0.1, 0.2)},
            height_factor=Change((-0.3, -0.2)), width_factor=Change((-0.2, -0.1))),
    _image(L.RandomCrop, {"height": 3, "width": 4}, height=Change(2), width=Change(3)),
    _image(L.RandomContrast, {"factor": 0.5}, factor=Change(0.9), value_range=Change((-10, 10))),
    _image(L.RandomBrightness, {"factor": 0.2, "value_range": (-100, 100)}, factor=Change(0.6),
           value_range=Change((-1, 1))),
    _image(L.RandomGrayscale, {"factor": 0.5}, factor=Change(0.0),
           data_format=Change("channels_first", shapes=(2, 3, 4, 3))),
    ArgumentCase(L.RandomInvert, {"factor": 0.9, "value_range": (0, 1)}, (8, 3, 4, 3), call={"training": True},
                 changes={"factor": Change((1.0, 1.0)), "value_range": Change((0, 2)), "seed": Change(3)}),
    _image(L.Solarization, {"threshold_factor": (0.5, 0.5), "value_range": (0, 1)},
           addition_factor=Change((0.2, 0.3)), threshold_factor=Change(0.1), value_range=Change((0, 2))),
    _image(L.RandomColorDegeneration, {"factor": 0.5, "value_range": (-10, 10)}, factor=Change((0.8, 0.9)),
           value_range=Change((0, 1)), data_format=Change("channels_first", shapes=(2, 3, 4, 3))),
    _image(L.RandomSharpness, {"factor": 0.9, "value_range": (-10, 10)}, factor=Change((0.0, 0.1)),
           value_range=Change((0, 1)), data_format=Change("channels_first")),
    ArgumentCase(L.RandomPosterization, {"factor": 8, "value_range": (-3, 3)}, (8, 3, 4, 3), call={"training": True},
                 changes={"factor": Change((2, 2)), "value_range": Change((-2, 2)), "seed": Change(3)}),
    # value_range clips the scaled saturation: observed with scales near 9, past both ranges' upper ends
    _image(L.RandomSaturation, {"factor": 0.5, "value_range": (0, 10)}, factor=Change((0.8, 0.9)),
           value_range=Change((0, 1), context={"factor": (0.9, 0.9)}),
           data_format=Change("channels_first", shapes=(2, 3, 4, 3))),
    _image(L.RandomHue, {"factor": 0.5, "value_range": (-3, 3)}, factor=Change((0.8, 0.9)),
           value_range=Change((-2, 2)), data_format=Change("channels_first", shapes=(2, 3, 4, 3))),
    _affine(L.RandomShear, {"x_factor": 0.3}, x_factor=Change((0.5, 0.6)), y_factor=Change((0.2, 0.3))),
    _image(L.RandomGaussianBlur, {"factor": (1.0, 1.0), "value_range": (-10, 10)}, factor=Change((0.0, 0.0)),
           kernel_size=Change(5), sigma=Change((0.5, 0.5)), value_range=Change((0, 1)),
           data_format=Change("channels_first")),
    ArgumentCase(L.Equalization, {"value_range": (-3, 3)}, (2, 5, 6, 3), call={"training": True}, changes={
        "value_range": Change((-1, 1)), "bins": Change(8), "data_format": Change("channels_first")}),
    ArgumentCase(L.MixUp, {}, (6, 3, 4, 3), call={"training": True}, changes={
        "alpha": Change(2.0, context={"seed": 1}), "seed": Change(3)}),
    _image(L.RandomErasing, {"factor": (1.0, 1.0), "value_range": (-3, 3)}, factor=Change((0.0, 0.0)),
           scale=Change((0.5, 0.6)), fill_value=Change(2.0), value_range=Change((-1, 1)),
           data_format=Change("channels_first", context={"fill_value": 2.0})),
    ArgumentCase(L.CutMix, {"factor": (1.0, 1.0)}, (6, 5, 6, 3), call={"training": True}, changes={
        "factor": Change((0.1, 0.1), context={"seed": 2}), "seed": Change(3),
        "data_format": Change("channels_first", context={"seed": 2})}),
    _image(L.RandomColorJitter, {"brightness_factor": 0.2, "value_range": (-100, 100)},
           value_range=Change((-1, 1)), brightness_factor=Change(0.6), contrast_factor=Change(0.9),
           saturation_factor=Change((0.9, 0.9)), hue_factor=Change((0.5, 0.5)),
           data_format=Change("channels_first", context={"contrast_factor": 0.5, "seed": 1})),
    _image(L.RandomPerspective, {"factor": (1.0, 1.0), "scale": 0.5}, factor=Change((0.0, 0.0)), scale=Change(0.9),
           interpolation=Change("nearest"), fill_value=Change(2.0), data_format=Change("channels_first")),
    ArgumentCase(L.AutoContrast, {}, (2, 5, 6, 3), changes={"value_range": Change((0, 1)),
                                                           "data_format": Change("channels_first")}),
    # vocabulary layers
    ArgumentCase(L.StringLookup, {"vocabulary": ["a", "b", "c", "d", "\u00e9"]}, make_inputs=_strings, changes={
        "vocabulary": Change(["d", "c", "b", "a", "\u00e9"]), "max_tokens": Change(4),
        "num_oov_indices": Change(2), "mask_token": Change(""), "oov_token": Change("?", context={"invert": True},
                                                                                       shapes=(3, 4)),
        "idf_weights": Change([0.5, 1.0, 1.5, 2.0, 2.5]), "dtype": Change("float64", context={"output_mode": "count"}),
        "invert": Change(True, shapes=(3, 4)), "output_mode": Change("multi_hot"),
        "pad_to_max_tokens": Change(True, context={"max_tokens": 9, "output_mode": "multi_hot"}),
        "encoding": Change("latin-1"), "salt": Change(7, context={"num_oov_indices": 3})}),
    ArgumentCase(L.IntegerLookup, {"vocabulary": [12, 36, 1138, 42]}, make_inputs=_integers, changes={
        "vocabulary": Change([42, 1138, 36, 12]), "max_tokens": Change(4), "num_oov_indices": Change(2),
        "mask_token": Change(0), "oov_token": Change(-7, context={"invert": True}, shapes=(3, 4)),
        "vocabulary_dtype": Change("int32", context={"invert": True}, shapes=(3, 4)),
        "idf_weights": Change([0.5, 1.0, 1.5, 2.0]), "dtype": Change("float64", context={"output_mode": "count"}),
        "invert": Change(True, shapes=(3, 4)), "output_mode": Change("multi_hot"),
        "pad_to_max_tokens": Change(True, context={"max_tokens": 9, "output_mode": "multi_hot"}),
        "oov_method": Change("farmhash"), "salt": Change(7, context={"num_oov_indices": 3})}),
    ArgumentCase(L.TextVectorization, {"vocabulary": ["quick", "fox", "a", "dog", "\u00e9"]}, make_inputs=_texts,
                 changes={
        "vocabulary": Change(["dog", "a", "fox", "quick", "\u00e9"]), "max_tokens": Change(4),
        "standardize": Change("lower"), "split": Change("character"), "ngrams": Change(2),
        "output_mode": Change("count"), "output_sequence_length": Change(2),
        "pad_to_max_tokens": Change(True, context={"max_tokens": 12, "output_mode": "count"}),
        "idf_weights": Change([0.5, 1.0, 1.5, 2.0, 2.5]), "dtype": Change("float64", context={"output_mode": "count"}),
        "encoding": Change("latin-1")}),
    ArgumentCase(L.Hashing, {"num_bins": 5}, make_inputs=_strings, changes={
        "num_bins": Change(3), "mask_value": Change(""), "salt": Change(7), "output_mode": Change("multi_hot"),
        "dtype": Change("float64", context={"output_mode": "count"})}),
    ArgumentCase(L.HashedCrossing, {"num_bins": 5}, make_inputs=lambda rng: [_strings(rng)[0].reshape(12, 1),
                                                                                _strings(rng)[0].reshape(12, 1)],
                 changes={"num_bins": Change(3), "output_mode": Change("one_hot"),
                          "dtype": Change("float64", context={"output_mode": "one_hot"})}),
    # 1D and 3D spatial layers, adaptive pooling
    _conv(L.Conv1DTranspose, (2, 3, 2), filters=3, output_padding=Change(1, context={"strides": 2})),
    _conv(L.Conv3D, (1, 5, 5, 5, 4), groups=Change(2), bias_constraint=_BIAS_CONSTRAINT),
    _conv(L.Conv3DTranspose, (1, 3, 3, 3, 2), filters=3, output_padding=Change(1, context={"strides": 2}),
          bias_constraint=_BIAS_CONSTRAINT),
    _conv(L.DepthwiseConv1D, (2, 7, 3), filters=None, depth_multiplier=Change(2)),
    _conv(L.SeparableConv1D, (2, 7, 4), depth_multiplier=Change(2)),
    _pooling(L.MaxPooling3D, (1, 5, 5, 5, 2)),
    _pooling(L.AveragePooling3D, (1, 5, 5, 5, 2)),
    *[ArgumentCase(cls, {}, (2, 3, 2, 4, 3)) for cls in (L.GlobalAveragePooling3D, L.GlobalMaxPooling3D)],
    *[ArgumentCase(cls, {"output_size": 3}, shape, changes={"output_size": Change(2)})
      for cls, shape in ((L.AdaptiveAveragePooling1D, (2, 7, 4)), (L.AdaptiveMaxPooling1D, (2, 7, 4)),
                         (L.AdaptiveAveragePooling2D, (2, 7, 5, 4)), (L.AdaptiveMaxPooling2D, (2, 7, 5, 4)),
                         (L.AdaptiveAveragePooling3D, (1, 4, 5, 4, 3)), (L.AdaptiveMaxPooling3D, (1, 4, 5, 4, 3)))],
    ArgumentCase(L.UpSampling1D, {}, (2, 3, 2), changes={"size": Change(3)}),
    ArgumentCase(L.UpSampling3D, {}, (2, 2, 3, 2, 2), changes={"size": Change((2, 1, 3))}),
    ArgumentCase(L.ZeroPadding1D, {}, (2, 3, 2), changes={"padding": Change((2, 1))}),
    ArgumentCase(L.ZeroPadding3D, {}, (2, 2, 2, 3, 2), changes={"padding": Change(((1, 0), (0, 2), (1, 1)))}),
    ArgumentCase(L.Cropping3D, {}, (2, 3, 4, 5, 3), changes={"cropping": Change(((1, 0), (0, 2), (1, 1)))}),
    # convolutional LSTMs
    _conv_lstm(L.ConvLSTM1D, (2, 3, 5, 2)),
    _conv_lstm(L.ConvLSTM2D, (2, 3, 5, 4, 2)),
    _conv_lstm(L.ConvLSTM3D, (2, 3, 3, 4, 3, 2)),
    # EinsumDense, GroupQueryAttention, Pipeline
    ArgumentCase(L.EinsumDense, {"equation": "ab,bc->ac", "output_shape": 4}, (3, 5), changes={
        "equation": Change("ab,cb->ac"), "output_shape": Change(3), "bias_axes": Change("c"),
        # the bias arguments act where there is a bias (bias_axes), as Keras's
        "bias_initializer": Change("ones", context={"bias_axes": "c"}),
        "bias_regularizer": Change("l2", context={"bias_axes": "c"}),
        "bias_constraint": Change("non_neg", context={"bias_axes": "c",
                                                      "bias_initializer": initializers.Constant(-1.0)}),
        "lora_rank": Change(2), "lora_alpha": Change(4.0, context={"lora_rank": 2}),
        "gptq_unpacked_column_size": Change(4), "quantization_config": Change({"mode": "int8"})}),
    ArgumentCase(L.GroupQueryAttention, {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2},
                 [(2, 4, 6), (2, 5, 6)], changes={
        "head_dim": Change(2), "num_query_heads": Change(2), "num_key_value_heads": Change(1),
        "sliding_window": Change(2), "seed": _seeded()}),
    ArgumentCase(L.Pipeline, {"layers": Fresh(lambda: [L.Dense(3), L.Dense(2, activation="tanh")])}, (2, 4),
                 changes={"layers": Change(Fresh(lambda: [L.Dense(2)]))}),
    # RNN(cell) and the cells, called with their states
    ArgumentCase(L.RNN, {"cell": Fresh(lambda: L.SimpleRNNCell(3))}, (2, 4, 3), changes={
        "cell": Change(Fresh(lambda: L.GRUCell(3))), "stateful": Change(True),
        "zero_output_for_mask": Change(True, context={"return_sequences": True}, call={"mask": MASK})}),
    _cell(L.SimpleRNNCell),
    _cell(L.LSTMCell),
    _cell(L.GRUCell),
    ArgumentCase(L.StackedRNNCells, {"cells": Fresh(lambda: [L.LSTMCell(3), L.SimpleRNNCell(2)])}, (2, 3),
                 call=_CELL_STATES, changes={"cells": Change(Fresh(lambda: [L.GRUCell(3), L.SimpleRNNCell(2)]))}),
    # graph
    ArgumentCase(GCNConv, {"units": 4}, make_inputs=graph_inputs(), changes={"units": Change(3)}),
    ArgumentCase(GATConv, {"units": 2, "heads": 2}, make_inputs=graph_inputs(), changes={
        "units": Change(3), "heads": Change(1), "negative_slope": Change(0.5)}),
    ArgumentCase(SAGEConv, {"units": 4}, make_inputs=graph_inputs(), changes={"units": Change(3)}),
    ArgumentCase(GINConv, {"mlp": Fresh(lambda: L.Dense(4, activation="tanh"))}, make_inputs=graph_inputs(),
                 changes={"mlp": Change(Fresh(lambda: L.Dense(4, activation="relu"))), "eps": Change(0.5)}),
    *[ArgumentCase(cls, {}, make_inputs=pool_inputs) for cls in (GlobalSumPool, GlobalMeanPool, GlobalMaxPool)],
]
