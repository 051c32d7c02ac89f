"""Every constructor argument of every layer round-trips through get_config AND changes what the layer does.

For each argument, two layers are made under the same seed, one with the argument's default and one with the
value from tests/contract/arguments.py; they must differ in what `observe` sees (outputs in inference and
training, masks, initial weights, penalties, weights after one SGD step, output shape), and the changed layer's
config clone must see exactly what the changed layer sees. A value tinydl cannot honour must be refused with an
error that names the argument. So a dropped or ignored argument cannot pass.
"""
import inspect
import json

import numpy as np
import pytest

import tinydl as td
from tinydl.io.config import deserialize, serialize
from tinydl.layers import Layer
from tinydl.layers.base import flatten
from tests.contract import randomise_weights
from tests.contract.arguments import (
    ARGUMENT_CASES, NOT_OBSERVED_HERE, SAME_NUMBERS, Change, ForLayer, Fresh, generic_change,
)
from tests.contract.test_layer_contract import _layer_classes, _takes_training

# Arguments whose contract fails on this branch for a known reason (strict: they must fail until fixed).
KNOWN_FAILURES = {
    ("Bidirectional", "dtype"): "Keras 3.15's Bidirectional(dtype='float64') returns float64; tinydl's returns "
                                "its inner layers' float32",
    ("RNN", "dtype"): "accepted and kept in the config, but RNN(cell, dtype='float64') computes in its cell's "
                      "float32: the wrapper's dtype reaches neither the cell's weights nor the output (as Bidirectional)",
    ("StackedRNNCells", "dtype"): "accepted and kept in the config, but the stack computes in its cells' float32: "
                                  "its dtype reaches neither the cells' weights nor the output",
    ("TokenAndPositionEmbedding", "tie_weights"): "accepted but changes nothing: there is no reverse (logits) "
                                                  "call, and tie_weights=False makes no reverse_embeddings",
}
SEED_IGNORED = ("seed is accepted and ignored: dropout draws from td.set_seed's global generator "
                "(layers/core.py Dropout, recurrent.py, attention.py)")
# where SEED_IGNORED holds; the noise and augmentation layers draw from their own generator when seeded
SEED_IGNORED_MODULES = ("tinydl.layers.core", "tinydl.layers.recurrent", "tinydl.layers.attention")


def known_failure(case, arg):
    """Why (case, arg) is expected to fail on this branch, or None."""
    if arg == "seed" and case.cls.__module__ in SEED_IGNORED_MODULES:
        return SEED_IGNORED
    return KNOWN_FAILURES.get((case.id, arg))


def constructor_arguments(cls):
    """{argument: default} over the __init__ chain up to Layer (as far as **kwargs passes them on)."""
    arguments = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(klass.__init__).parameters
        for name, p in parameters.items():
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                arguments.setdefault(name, p.default)
        if klass is Layer or not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            break
    return arguments


def argument_params():
    """One pytest param per (layer class, argument), with its Change (None when the table has none)."""
    params = []
    for case in ARGUMENT_CASES:
        for arg, default in constructor_arguments(case.cls).items():
            if arg in NOT_OBSERVED_HERE or (case.id, arg) in NOT_OBSERVED_HERE:
                continue
            change = case.changes.get(arg) or generic_change(arg, default)
            reason = known_failure(case, arg)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(case, arg, change, id=f"{case.id}-{arg}", marks=marks))
    return params


def test_every_layer_class_has_an_argument_case():
    covered = {case.cls.__name__ for case in ARGUMENT_CASES}
    missing = sorted(_layer_classes() - covered)
    assert not missing, f"layers without an ArgumentCase in tests/contract/arguments.py: {missing}"


def test_every_change_names_a_real_argument():
    unknown = [(case.id, arg) for case in ARGUMENT_CASES for arg in case.changes
               if arg not in constructor_arguments(case.cls)]
    assert not unknown, unknown


@pytest.mark.parametrize("case, arg, change", argument_params())
def test_argument_round_trips_and_changes_behaviour(case, arg, change):
    if change is None:
        pytest.fail(f"no non-default value for {case.id}({arg}=...): add a Change to tests/contract/arguments.py")
    try:
        changed = make(case, {**change.context, arg: change.value})
    except (ValueError, TypeError, NotImplementedError) as error:
        named = [a for a in (arg, *change.context) if a in str(error)]
        assert named, f"{case.id}({arg}={change.value!r}) refused without naming the argument: {error}"
        return
    if arg == "name":
        assert changed.name == change.value and changed.get_config()["name"] == change.value
        return
    default = make(case, change.context)
    seen_changed = observe(changed, case, change)
    if arg in SAME_NUMBERS or (case.id, arg) in SAME_NUMBERS:  # (class, argument) entries keep the config checks
        assert same(observe(default, case, change), seen_changed), f"{arg} should not change the numbers"
    else:
        assert not same(observe(default, case, change), seen_changed), \
            f"{case.id}({arg}={change.value!r}) behaves exactly like the default"
    config = as_json(changed.get_config())
    if arg not in ("weights", *SAME_NUMBERS):  # Keras keeps these out of its configs too
        assert arg in config, f"{case.id}.get_config() has no '{arg}'"
        assert config != as_json(default.get_config())
    clone = deserialize(json.loads(json.dumps(serialize(changed))), safe_mode=False)  # Lambda carries code
    if arg in ("weights", *SAME_NUMBERS):
        return
    assert as_json(clone.get_config()) == config
    assert same(observe(clone, case, change), seen_changed), f"{case.id}'s config loses what {arg} does"


def as_json(config):
    """The config as a file holds it (tuples become lists)."""
    return json.loads(json.dumps(config))


def make(case, kwargs):
    """A fresh layer of the case's class from its base arguments and `kwargs` (Fresh values made anew)."""
    arguments = {**case.base, **kwargs}
    return case.cls(**{k: v.make() if isinstance(v, Fresh) else v for k, v in arguments.items()})


def observe(layer, case, change):
    """What one layer does: labelled arrays of outputs, masks, weights, penalties and one SGD step."""
    rng = np.random.default_rng(0)
    arrays = inputs(case, change, rng)
    call = {**case.call, **change.call}
    call.pop("training", None)
    call = {k: v.make(layer) if isinstance(v, ForLayer) else v for k, v in call.items()}
    training = call_training = case.call.get("training")
    packed = pack(arrays)

    def run(training):
        kwargs = {**call, "training": training} if _takes_training(layer) else call
        return [t for t in flatten(layer(packed, **kwargs)) if isinstance(t, td.Tensor)]
    td.set_seed(0)
    run(bool(call_training))  # builds the weights
    seen = [("initial weights", [w.numpy() for w in layer.weights])]
    randomise_weights(layer, rng)
    td.set_seed(1)
    seen.append(("inference", [o.numpy() for o in run(False)]))
    seen.append(("mask", [np.asarray(m.numpy() if isinstance(m, td.Tensor) else m)
                          for m in flatten(layer.compute_mask(packed, call.get("mask"))) if m is not None]))
    seen.append(("output shape", _output_shape(layer, arrays)))
    td.set_seed(2)
    outs = run(True if training is None else training)
    seen.append(("training", [o.numpy() for o in outs]))
    seen.append(("penalties", [float(p.numpy()) for p in layer.losses]))
    trainable = layer.trainable_weights
    seen.append(("trainable", [layer.trainable] + [w.name for w in trainable]))
    r = np.random.default_rng(5)
    numbers = [o for o in outs if o.dtype.kind in "biufc"]  # strings (StringLookup(invert=True)) take no step
    objective = sum(((o * td.tensor(r.standard_normal(o.shape), dtype=o.dtype)).sum() for o in numbers),
                    td.tensor(0.0))
    objective = sum(layer.losses, objective)
    for w in trainable:
        w.grad = None
    if trainable and objective.requires_grad:
        objective.backward()
        grads = [w.grad for w in trainable]
        if any(g is not None for g in grads):
            td.optimizers.SGD(learning_rate=0.1).apply(grads, trainable)
    seen.append(("after one step", [w.numpy() for w in layer.weights]))
    return seen


def inputs(case, change, rng):
    """The case's input arrays (float64 draws cast to float32; ints below int_high)."""
    if case.make_inputs is not None and change.shapes is None:
        arrays = list(case.make_inputs(rng))
    else:
        shapes = change.shapes or case.shapes
        shapes = shapes if isinstance(shapes, list) else [shapes]
        dtypes = change.dtypes or case.dtypes or "float32"
        dtypes = dtypes if isinstance(dtypes, list) else [dtypes] * len(shapes)
        arrays = [rng.integers(0, case.int_high, size=s).astype(d) if np.dtype(d).kind in "iu"
                  else rng.standard_normal(s) for s, d in zip(shapes, dtypes)]
    return [a.astype("float32") if a.dtype.kind == "f" else a for a in arrays]


def pack(arrays):
    tensors = [td.tensor(a) if a.dtype.kind == "f" else a for a in arrays]
    return tensors[0] if len(tensors) == 1 else tensors


def _output_shape(layer, arrays):
    """The shapes of a symbolic call on Inputs of the arrays' shapes, or the error's type (both are behaviour)."""
    from tinydl.layers import Input
    try:
        symbolic = [Input(batch_shape=a.shape, dtype=a.dtype.name) for a in arrays]
        out = layer(symbolic[0] if len(symbolic) == 1 else symbolic)
        return [np.asarray([tuple(t.shape) for t in flatten(out)] + [None], dtype=object)]
    except Exception as error:  # which error is raised is what gets compared
        return [np.asarray(type(error).__name__)]


def same(a, b):
    """Two observations are equal: same labels, and arrays of the same shape, dtype and values."""
    if len(a) != len(b):
        return False
    for (label_a, values_a), (label_b, values_b) in zip(a, b):
        if label_a != label_b or len(values_a) != len(values_b):
            return False
        for x, y in zip(values_a, values_b):
            x, y = np.asarray(x), np.asarray(y)
            if x.shape != y.shape or x.dtype != y.dtype:
                return False
            if x.dtype == object:
                if x.tolist() != y.tolist():
                    return False
            elif not np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"):
                return False
    return True
