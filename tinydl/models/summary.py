"""`model.summary()`: a Keras-style table of layers, output shapes and parameter counts."""
from tinydl.layers.base import flatten
from tinydl.layers.core import InputLayer

__all__ = ["summary"]


def summary(model, line_length=None, print_fn=None, show_trainable=False):
    """Print (or pass to `print_fn`) one row per layer; functional graphs with branches get a
    'Connected to' column, so skip connections are visible."""
    print_fn = print_fn or print
    graph = model._graph
    connected = graph is not None and not _is_chain(graph)
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if connected else [])
    widths = [34, 26, 12] + ([30] if connected else [])
    if line_length:
        widths[0] = max(20, line_length - sum(widths[1:]))
    rows = []
    layers = graph.layers if graph is not None else model._layers
    for layer in layers:
        if graph is not None and isinstance(layer, InputLayer) and model.__class__.__name__ == "Sequential":
            continue
        rows.append([f"{layer.name} ({type(layer).__name__})", _output_shape(layer, graph),
                     f"{_params(layer):,}"] + ([_connections(layer, graph)] if connected else []))
    total = sum(w.size for w in model.weights) if model.built else 0
    trainable = sum(w.size for w in model.trainable_weights) if model.built else 0
    width = sum(widths)
    lines = [f'Model: "{model.name}"', "_" * width, _row(headers, widths), "=" * width]
    for i, row in enumerate(rows):
        lines.append(_row(row, widths))
        lines.append("_" * width if i < len(rows) - 1 else "=" * width)
    if not rows:
        lines.append("=" * width)
    lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", "_" * width]
    for line in lines:
        print_fn(line)


def _row(cells, widths):
    """Cells padded to their column widths (Param # right-aligned)."""
    out = ""
    for i, (cell, w) in enumerate(zip(cells, widths)):
        text = str(cell)
        out += (text.rjust(w - 2) + "  ") if i == 2 else text.ljust(w)[:max(w, len(text))] + " "
    return out.rstrip()


def _params(layer):
    return sum(w.size for w in layer.weights) if layer.built else 0


def _output_shape(layer, graph):
    """The layer's output shape(s) in this model, as Keras prints them: (None, 64)."""
    if graph is None or not layer._inbound_nodes:
        return "?"
    node = _nodes_in(layer, graph)[0]
    shapes = [t.shape for t in flatten(node.outputs)]
    return str(shapes[0]) if len(shapes) == 1 else str(shapes)


def _nodes_in(layer, graph):
    nodes = set(graph.nodes) | {l._inbound_nodes[0] for l in graph.input_layers}
    return [n for n in layer._inbound_nodes if n in nodes]


def _connections(layer, graph):
    """Names of the layers whose outputs this layer consumes, e.g. 'dense[0][0], add[0][0]'."""
    refs = []
    for node in _nodes_in(layer, graph):
        for t in node.input_tensors:
            src, node_index, tensor_index = t._keras_history
            refs.append(f"{src.name}[{node_index}][{tensor_index}]")
    return ", ".join(refs) if refs else "-"


def _is_chain(graph):
    """True when every layer takes exactly the previous layer's single output (nothing to connect)."""
    previous = graph.input_tensors[0] if len(graph.input_tensors) == 1 else None
    if previous is None:
        return False
    for node in graph.nodes:
        if len(node.input_tensors) != 1 or node.input_tensors[0] is not previous or len(node.output_tensors) != 1:
            return False
        previous = node.output_tensors[0]
    return len(graph.output_tensors) == 1 and graph.output_tensors[0] is previous
