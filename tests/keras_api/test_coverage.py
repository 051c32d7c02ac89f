"""Coverage of Keras 3's public namespace: every public name of each in-scope `keras` module exists in the
same-named tinydl module, or is listed below with its reason. Prints the coverage per module (`-s`).

Three lists, each name at most once:
- EXCEPTIONS: left out on purpose (TensorFlow/JAX-specific, mixed precision, ...), each with its reason;
  README's "Coming from Keras" summarises them.
- PENDING_ISSUE_16: the missing names of keras.layers/ops/metrics/optimizers/initializers (issue 16's work).
- PENDING_ELSEWHERE: gaps in other areas (training loop, callbacks, losses, activations, distribution).
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import pytest  # noqa: E402

import tinydl  # noqa: E402

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

IN_SCOPE = ["", "utils", "backend", "config", "random", "tree", "saving", "models", "datasets", "wrappers",
            "optimizers.schedules", "regularizers", "constraints", "callbacks", "losses", "activations",
            "layers", "ops", "metrics", "optimizers", "initializers", "distribution", "distillation"]

_MIXED_PRECISION = "mixed precision: tinydl computes in float32/float64 only (no float16/bfloat16 kernels)"
_FLASH = "no flash-attention kernels (cuDNN/Pallas); attention runs as plain matrix products"
_TRACEBACKS = "tinydl does not rewrite tracebacks: errors always show the full stack"
_LEGACY = "tf.keras 2 compatibility shims"
_SHARDING = ("model parallelism shards weights over a JAX device mesh; tinydl.distribution replicates the model "
             "in each MPI process (DataParallel) and shards nothing")
_DEVICES = ("JAX's device enumeration for meshes; tinydl's processes are MPI ranks (distribution.size(), "
            "rank(), local_size()), each on its own one device")

EXCEPTIONS = {
    "": {
        "applications": "pretrained ImageNet models need TF-trained weight downloads; tinydl.examples is the zoo",
        "DTypePolicy": _MIXED_PRECISION, "FloatDTypePolicy": _MIXED_PRECISION, "dtype_policies": _MIXED_PRECISION,
        "mixed_precision": _MIXED_PRECISION,
        "Quantizer": "int8/float8 quantization needs backend-specific kernels",
        "quantizers": "int8/float8 quantization needs backend-specific kernels",
        "Operation": "Keras's symbolic-op base class; tinydl's ops are functions recorded by autograd.Function",
        "RematScope": "rematerialisation (gradient checkpointing) is a JAX/TF compiler feature",
        "remat": "rematerialisation (gradient checkpointing) is a JAX/TF compiler feature",
        "StatelessScope": "JAX-style stateless tracing; tinydl runs eagerly on arrays",
        "SymbolicScope": "JAX-style symbolic tracing; tinydl runs eagerly on arrays",
        "export": "keras.export.ExportArchive writes TF SavedModels; tinydl exports ONNX (tinydl.io.onnx)",
        "legacy": _LEGACY,
        "preprocessing": "Keras 2's deprecated module path; its functions are in tinydl.utils",
        "src": "Keras's private implementation package",
        "visualization": "bounding-box and mask drawing for KerasCV/KerasHub detection models",
        "name_scope": "TF-style name scopes for variable names; tinydl names weights by layer path",
    },
    "utils": {
        "FeatureSpace": "structured-data preprocessing built on tf.data and preprocessing layers",
        "audio_dataset_from_directory": "needs audio decoding (tf.audio); tinydl has no audio layers",
        "bounding_boxes": "KerasCV detection box utilities",
        "legacy": _LEGACY,
    },
    "backend": {
        "result_type": "Keras's JAX-derived promotion (int32+int64 -> int32, float16+float64 -> float32) "
                       "differs on purpose from NumPy's promotion, which tinydl's ops follow",
    },
    "config": {
        "dtype_policy": _MIXED_PRECISION, "set_dtype_policy": _MIXED_PRECISION,
        "enable_flash_attention": _FLASH, "disable_flash_attention": _FLASH, "is_flash_attention_enabled": _FLASH,
        "enable_traceback_filtering": _TRACEBACKS, "disable_traceback_filtering": _TRACEBACKS,
        "is_traceback_filtering_enabled": _TRACEBACKS,
        "is_nnx_enabled": "JAX Flax NNX integration",
        "set_backend": "tinydl is its own single backend: there is nothing to switch to",
    },
    "layers": {
        "FlaxLayer": "wraps a Flax module, run by JAX's tracer and its parameter pytrees; tinydl has no JAX backend",
        "JaxLayer": "wraps a pure JAX function (call_fn/init_fn on JAX arrays and PRNG keys); tinydl has no JAX "
                    "backend",
        "TFSMLayer": "loads a TensorFlow SavedModel and calls its concrete functions through TF; tinydl has no TF "
                     "runtime (tinydl.layers.TFSMLayer would need tensorflow itself)",
        "MaxNumBoundingBoxes": "pads/truncates the bounding_boxes dict of Keras's detection-augmentation pipeline; "
                               "tinydl has no bounding-box format support (keras.utils.bounding_boxes is left out "
                               "too), so there are no boxes for it to act on",
        "TorchModuleWrapper": "wraps a torch.nn.Module whose parameters are torch tensors trained by torch autograd; "
                              "tinydl's tape runs on NumPy/CuPy arrays and cannot differentiate through torch",
    },
    "callbacks": {"OrbaxCheckpoint": "Orbax is JAX's checkpointing library; ModelCheckpoint covers saving"},
    "optimizers": {"legacy": _LEGACY},
    "distribution": {  # tinydl.distribution is data parallelism over MPI processes (issue 13)
        "DeviceMesh": _SHARDING, "LayoutMap": _SHARDING, "ModelParallel": _SHARDING, "TensorLayout": _SHARDING,
        "distribute_tensor": _SHARDING,
        "list_devices": _DEVICES, "get_device_count": _DEVICES,
    },
}

PENDING_ELSEWHERE = {
}

PENDING_ISSUE_16 = {
    "layers": """AugMix ContrastLimitedAdaptiveHistogramEqualization RandAugment RandomElasticTransform""",
    "ops": "",
}


def _module(root, dotted):
    """root.a.b for dotted 'a.b' ('' is root itself)."""
    for part in [p for p in dotted.split(".") if p]:
        root = getattr(root, part)
    return root


def _public(module):
    return {name for name in dir(module) if not name.startswith("_")}


def _listed(table, name):
    value = table.get(name, "")
    return set(value.split()) if isinstance(value, str) else set(value)


@pytest.mark.parametrize("name", IN_SCOPE)
def test_every_keras_name_is_present_or_listed(name):
    theirs, ours = _public(_module(keras, name)), _module(tinydl, name)
    missing = {n for n in theirs if not hasattr(ours, n)}
    excused = _listed(EXCEPTIONS, name) | _listed(PENDING_ISSUE_16, name) | _listed(PENDING_ELSEWHERE, name)
    present = len(theirs) - len(missing)
    print(f"\nkeras.{name or '(top level)'}: {present}/{len(theirs)} names = {100 * present / len(theirs):.0f}%"
          f" ({len(missing & _listed(EXCEPTIONS, name))} left out on purpose)")
    assert sorted(missing - excused) == [], f"keras.{name}: names neither in tinydl nor listed with a reason"
    assert sorted(_listed(EXCEPTIONS, name) - theirs) == [], "exceptions for names Keras does not have"
    assert sorted(_listed(EXCEPTIONS, name) & _public(ours)) == [], "exceptions for names tinydl now has"


def test_each_listed_name_appears_once_and_has_a_reason():
    for name in IN_SCOPE:
        lists = [_listed(EXCEPTIONS, name), _listed(PENDING_ISSUE_16, name), _listed(PENDING_ELSEWHERE, name)]
        assert not (lists[0] & lists[1]) and not (lists[0] & lists[2]) and not (lists[1] & lists[2]), name
        assert all(reason.strip() for reason in EXCEPTIONS.get(name, {}).values())


def test_submodules_are_attributes_of_the_package_with_keras_s_names():
    for name in IN_SCOPE:
        if name and "." not in name:
            assert _module(tinydl, name).__name__.startswith("tinydl."), name


SIGNATURE_MODULES = ["utils", "backend", "config", "random", "tree", "saving", "models", "wrappers",
                     "optimizers.schedules", "regularizers", "constraints"]
# where a signature differs on purpose: tinydl's extra trailing argument, or a positional-only name
SIGNATURE_DIFFERENCES = {
    ("utils", "Progbar"): "an extra trailing `stream` argument (where the bar is written)",
    ("saving", "KerasFileEditor"): "an extra trailing `stream` argument (where summary() and compare() print)",
    ("models", "Model"): "Keras's Model takes *args/**kwargs and dispatches; tinydl names inputs/outputs",
    ("optimizers.schedules", "serialize"): "one shared serialize(obj); the argument is positional in practice",
    ("regularizers", "serialize"): "one shared serialize(obj); the argument is positional in practice",
    ("constraints", "serialize"): "one shared serialize(obj); the argument is positional in practice",
}


def _signature(obj):
    import inspect
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        return [(p.name, p.default) for p in inspect.signature(target).parameters.values() if p.name != "self"]
    except (TypeError, ValueError):
        return None


@pytest.mark.parametrize("name", SIGNATURE_MODULES)
def test_functions_take_keras_s_arguments_with_keras_s_defaults(name):
    theirs, ours = _module(keras, name), _module(tinydl, name)
    different = []
    for attr in sorted(_public(theirs)):
        if not hasattr(ours, attr) or not callable(getattr(theirs, attr)) or (name, attr) in SIGNATURE_DIFFERENCES:
            continue
        a, b = _signature(getattr(theirs, attr)), _signature(getattr(ours, attr))
        if a is not None and b is not None and a != b:
            different.append((attr, a, b))
    assert different == []


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters",
                                  "boston_housing", "california_housing"])
def test_load_data_signatures_are_keras_s(name):
    assert _signature(getattr(tinydl.datasets, name).load_data) == \
        _signature(getattr(keras.datasets, name).load_data)
