"""keras.tree: walk nested structures of lists, tuples, namedtuples and dicts.

Leaves come out in a fixed order: sequences in order, dicts by sorted key (an OrderedDict in its own
order), and None is a leaf, as in Keras 3.
"""
import collections

__all__ = ["MAP_TO_NONE", "is_nested", "flatten", "flatten_with_path", "map_structure", "map_structure_up_to",
           "pack_sequence_as", "assert_same_structure", "assert_same_paths", "lists_to_tuples",
           "map_shape_structure", "traverse"]


class _MapToNone:
    """Sentinel a `traverse` function returns to put None in place of a node."""

    def __repr__(self):
        return "MAP_TO_NONE"


MAP_TO_NONE = _MapToNone()


def is_nested(structure):
    """True for a list, tuple, namedtuple or dict (even empty), False for a leaf."""
    return isinstance(structure, (list, tuple, dict))


def flatten(structure):
    """The leaves of `structure`, in order."""
    return [leaf for _, leaf in flatten_with_path(structure)]


def flatten_with_path(structure):
    """(path, leaf) pairs, the path being the tuple of keys/indices leading to the leaf."""
    if not is_nested(structure):
        return [((), structure)]
    return [((key,) + path, leaf) for key, child in _children(structure)
            for path, leaf in flatten_with_path(child)]


def map_structure(func, *structures, none_is_leaf=True):
    """`func` applied to the leaves (one from each structure), in the first structure's nesting."""
    if not structures:
        raise ValueError("map_structure: at least one structure is required, received none")
    for other in structures[1:]:
        assert_same_structure(structures[0], other)
    leaves = [flatten(s) for s in structures]
    return pack_sequence_as(structures[0], [func(*args) for args in zip(*leaves)])


def map_structure_up_to(shallow_structure, func, *structures):
    """`func` applied to the sub-structures found where `shallow_structure` has its leaves."""
    parts = [_cut(shallow_structure, s) for s in structures]
    return pack_sequence_as(shallow_structure, [func(*args) for args in zip(*parts)])


def pack_sequence_as(structure, flat_sequence):
    """`structure`'s nesting filled with the values of `flat_sequence` (the inverse of `flatten`)."""
    flat_sequence = list(flat_sequence)
    expected = len(flatten(structure))
    if len(flat_sequence) != expected:
        raise ValueError(f"pack_sequence_as: the structure holds {expected} leaves, but flat_sequence has "
                         f"{len(flat_sequence)} items")
    it = iter(flat_sequence)
    return _rebuild(structure, lambda leaf: next(it))


def assert_same_structure(a, b, check_types=None):
    """ValueError unless `a` and `b` nest the same way with the same container types."""
    if is_nested(a) != is_nested(b):
        raise ValueError(f"Structures don't have the same nested structure: {a!r} and {b!r}")
    if not is_nested(a):
        return None
    if _kind(a) != _kind(b):
        raise ValueError(f"Node type mismatch; expected {type(a)}, but got {type(b)}.")
    keys_a, keys_b = [k for k, _ in _children(a)], [k for k, _ in _children(b)]
    if keys_a != keys_b:
        raise ValueError(f"Structures don't have the same nested structure: keys {keys_a} and {keys_b}")
    for (_, x), (_, y) in zip(_children(a), _children(b)):
        assert_same_structure(x, y)
    return None


def assert_same_paths(a, b):
    """ValueError unless `a` and `b` have the same set of leaf paths (container types may differ)."""
    paths_a = {p for p, _ in flatten_with_path(a)}
    paths_b = {p for p, _ in flatten_with_path(b)}
    if paths_a != paths_b:
        raise ValueError(f"`a` and `b` don't have the same paths.\nPaths in `a` missing in `b`:\n"
                         f"{paths_a - paths_b}\nPaths in `b` missing in `a`:\n{paths_b - paths_a}")


def lists_to_tuples(structure):
    """The same structure with every list turned into a tuple."""
    if isinstance(structure, list):
        return tuple(lists_to_tuples(x) for x in structure)
    if is_nested(structure):
        return _rebuild_children(structure, [lists_to_tuples(c) for _, c in _children(structure)])
    return structure


def map_shape_structure(func, structure):
    """`func` applied to every shape (a tuple or list of ints/None) in a nested structure of shapes."""
    if _is_shape(structure) or not is_nested(structure):
        return func(structure)
    return _rebuild_children(structure, [map_shape_structure(func, c) for _, c in _children(structure)])


def traverse(func, structure, top_down=True):
    """Rebuild `structure` calling `func` on every node: a non-None result replaces the node
    (MAP_TO_NONE replaces it by None); None keeps it (and, top-down, visits its children)."""
    if top_down:
        result = func(structure)
        if result is not None:
            return None if result is MAP_TO_NONE else result
        if not is_nested(structure):
            return structure
        return _rebuild_children(structure, [traverse(func, c, True) for _, c in _children(structure)])
    node = structure
    if is_nested(structure):
        node = _rebuild_children(structure, [traverse(func, c, False) for _, c in _children(structure)])
    result = func(node)
    if result is None:
        return node
    return None if result is MAP_TO_NONE else result


def _children(structure):
    """(key, child) pairs of one container, in flattening order."""
    if isinstance(structure, dict):
        keys = list(structure) if isinstance(structure, collections.OrderedDict) else sorted(structure)
        return [(k, structure[k]) for k in keys]
    return list(enumerate(structure))


def _rebuild_children(structure, values):
    """A container like `structure` holding `values` (in `_children` order)."""
    if isinstance(structure, dict):
        mapping = dict(zip([k for k, _ in _children(structure)], values))
        return type(structure)((k, mapping[k]) for k in structure)  # keep the caller's key order
    if isinstance(structure, tuple) and hasattr(structure, "_fields"):
        return type(structure)(*values)
    return type(structure)(values)


def _rebuild(structure, leaf_fn):
    """`structure` with each leaf replaced by `leaf_fn(leaf)`, visiting leaves in flattening order."""
    if not is_nested(structure):
        return leaf_fn(structure)
    return _rebuild_children(structure, [_rebuild(c, leaf_fn) for _, c in _children(structure)])


def _cut(shallow, structure):
    """The sub-structures of `structure` found at the leaves of `shallow`."""
    if not is_nested(shallow):
        return [structure]
    if not is_nested(structure) or len(_children(shallow)) != len(_children(structure)):
        raise ValueError(f"map_structure_up_to: {structure!r} does not extend the shallow structure {shallow!r}")
    return [part for (_, s), (_, c) in zip(_children(shallow), _children(structure)) for part in _cut(s, c)]


def _kind(structure):
    """The container kind for structure comparison (namedtuples by class, other tuples as tuple)."""
    return type(structure) if hasattr(structure, "_fields") else \
        dict if isinstance(structure, dict) else type(structure)


def _is_shape(x):
    """True for a tuple/list of ints and None, such as (None, 4)."""
    return isinstance(x, (tuple, list)) and all(d is None or isinstance(d, int) for d in x)
