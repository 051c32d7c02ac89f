"""keras.utils.plot_model and model_to_dot: a model's layer graph drawn by Graphviz through pydot.

pydot (pip) and Graphviz's `dot` program (apt/brew) are optional dependencies: `tinydl[plot]`.
The graph is read from the model's config (layers and their inbound tensors), so it is the same
graph that saving writes.
"""
import os

from tinydl.layers.base import KerasTensor

__all__ = ["model_to_dot", "plot_model"]


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False, show_trainable=False,
                 splines="ortho", **kwargs):
    """A `pydot.Dot` graph of the model: one box per layer, one arrow per connection; with `expand_nested`
    a nested model is a cluster of its own layers."""
    pydot = _pydot()
    if kwargs:
        raise ValueError(f"model_to_dot: unrecognized keyword arguments {sorted(kwargs)}")
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"rankdir must be 'TB' or 'LR', received {rankdir!r}")
    style = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                 show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                 expand_nested=expand_nested)
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name, label=model.name)
    else:
        dot = pydot.Dot(graph_type="digraph", rankdir=rankdir, splines=splines, dpi=dpi, concentrate=True)
        dot.set_node_defaults(shape="record")
    _add_model(pydot, dot, model, style, prefix="")
    return dot


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               splines="ortho", **kwargs):
    """Draw the model into `to_file` (.png, .svg, .pdf, .dot, ... by its extension)."""
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                       splines=splines, **kwargs)
    extension = os.path.splitext(str(to_file))[1][1:].lower() or "png"
    try:
        dot.write(to_file, format="raw" if extension == "dot" else extension)
    except FileNotFoundError:
        raise ImportError("plot_model needs Graphviz's `dot` program on the PATH: install graphviz "
                          "(apt-get install graphviz, brew install graphviz)") from None
    return None


def _add_model(pydot, dot, model, style, prefix):
    """Add `model`'s layers and connections to `dot`; return (entry node ids, exit node id)."""
    config = model.get_config()
    entries = config["layers"]
    functional = any("inbound_nodes" in e for e in entries)
    shapes = _shapes(model, entries, functional)
    ids = {}
    for entry in entries:
        name = entry["config"]["name"]
        layer = _layer(model, name)
        if style["expand_nested"] and layer is not None and hasattr(layer, "layers") and \
                hasattr(layer, "get_config") and "layers" in layer.get_config():
            cluster = pydot.Cluster(graph_name=prefix + name, label=name, style="dashed")
            ids[name] = _add_model(pydot, cluster, layer, style, prefix + name + "/")
            dot.add_subgraph(cluster)
            continue
        node_id = prefix + name
        dot.add_node(pydot.Node(_quote(node_id), label=_label(entry, layer, shapes.get(name), style)))
        ids[name] = (node_id, node_id)
    order = [e["config"]["name"] for e in entries]
    if functional:
        for entry in entries:
            for node in entry.get("inbound_nodes", []):
                for source in _sources(node):
                    if source in ids:
                        dot.add_edge(pydot.Edge(_quote(ids[source][1]), _quote(ids[entry["config"]["name"]][0])))
    else:
        for a, b in zip(order, order[1:]):
            dot.add_edge(pydot.Edge(_quote(ids[a][1]), _quote(ids[b][0])))
    return ids[order[0]][0], ids[order[-1]][1]


def _sources(node):
    """Names of the layers whose outputs feed one inbound node (Keras 3 node form or the legacy list)."""
    found = []

    def walk(value):
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                found.append(value["config"]["keras_history"][0])
            else:
                for v in value.values():
                    walk(v)
        elif isinstance(value, (list, tuple)):
            if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
                found.append(value[0])
            else:
                for v in value:
                    walk(v)
    walk(node)
    return found


def _shapes(model, entries, functional):
    """{layer name: (input shape, output shape)} where the layer can tell (shapes with None batch)."""
    shapes, current = {}, None
    for entry in entries:
        name, cfg = entry["config"]["name"], entry["config"]
        layer = _layer(model, name)
        if "batch_shape" in cfg:
            current = tuple(cfg["batch_shape"])
            shapes[name] = (current, current)
            continue
        if functional:
            inputs = [tuple(a["config"]["shape"]) for node in entry.get("inbound_nodes", [])[:1]
                      for a in _tensor_configs(node)]
            current = inputs[0] if len(inputs) == 1 else inputs
        if current is None or layer is None:
            continue
        out = _output_shape(layer, current)
        shapes[name] = (current, out)
        current = out
    return shapes


def _output_shape(layer, input_shape):
    """The layer's output shape for `input_shape` (a list of shapes for several inputs), None if unknown."""
    is_list = isinstance(input_shape, list)
    symbolic = [KerasTensor(s) for s in input_shape] if is_list else KerasTensor(input_shape)
    try:
        out = layer.compute_output_spec(symbolic)
    except Exception:  # a layer that cannot run on dummy data is drawn without its shape
        return None
    return tuple(out.shape) if isinstance(out, KerasTensor) else [tuple(t.shape) for t in out]


def _tensor_configs(node):
    """The `__keras_tensor__` configs in a Keras 3 node."""
    found = []

    def walk(value):
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                found.append(value)
            else:
                [walk(v) for v in value.values()]
        elif isinstance(value, (list, tuple)):
            [walk(v) for v in value]
    walk(node)
    return found


def _label(entry, layer, shapes, style):
    """The box text: name and class, activation, trainable flag, input and output shapes."""
    cls = entry["class_name"]
    head = f"{entry['config']['name']} ({cls})" if style["show_layer_names"] else cls
    parts = [head]
    if style["show_layer_activations"] and "activation" in entry["config"]:
        parts.append(f"activation: {entry['config']['activation']}")
    if style["show_trainable"]:
        parts.append(f"trainable: {entry['config'].get('trainable', True)}")
    if style["show_shapes"]:
        shown = shapes or ("?", "?")
        parts.append(f"input: {_fmt(shown[0])}|output: {_fmt(shown[1])}")
    if style["show_dtype"]:
        parts.append(f"dtype: {entry['config'].get('dtype', '?')}")
    return "{" + "|".join(_escape(p) for p in parts) + "}"


def _fmt(shape):
    """(None, 3) as '(None, 3)'; a list of shapes as a list."""
    return "?" if shape is None else str(shape).replace("'", "")


def _escape(text):
    """Record-label text with Graphviz's special characters escaped (the '|' between fields stays)."""
    out = text
    for ch in "{}<>":
        out = out.replace(ch, "\\" + ch)
    return out


def _quote(node_id):
    """A node id Graphviz accepts whatever the layer name."""
    return '"' + node_id.replace('"', '\\"') + '"'


def _layer(model, name):
    """The model's layer called `name` (None for an input layer a Sequential model does not list)."""
    for layer in getattr(model, "layers", []):
        if layer.name == name:
            return layer
    return None


def _pydot():
    """The pydot module, or a clear error naming the extra to install."""
    try:
        import pydot  # optional dependency, imported on use
    except ImportError:
        raise ImportError("plot_model/model_to_dot need pydot and Graphviz: pip install tinydl[plot] and "
                          "install graphviz (apt-get install graphviz)") from None
    return pydot
