"""The functional graph: nodes recorded by symbolic layer calls, ordered, run, and (de)serialized."""
import numpy as np

from tinydl.layers.base import KerasTensor, flatten, learning_phase, pack_like
from tinydl.layers.core import InputLayer
from tinydl.io.config import deserialize, serialize

__all__ = ["FunctionalGraph"]


class FunctionalGraph:
    """The layer calls that lead from `inputs` to `outputs` (KerasTensors), in an order they can run."""

    def __init__(self, inputs, outputs):
        self.inputs = inputs
        self.outputs = outputs
        self.input_tensors = flatten(inputs)
        self.output_tensors = flatten(outputs)
        for t in self.input_tensors + self.output_tensors:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"a functional model's inputs and outputs must be symbolic tensors from "
                                f"Input() and layer calls, got {type(t).__name__}")
        self.nodes = _ordered_nodes(self.input_tensors, self.output_tensors)
        self._released_after = _last_uses(self.nodes, self.output_tensors)
        self._single_io = [len(n.args) == 1 and isinstance(n.args[0], KerasTensor) and not n.kwargs
                           and isinstance(n.outputs, KerasTensor) for n in self.nodes]
        self.input_layers = [t._keras_history[0] for t in self.input_tensors]
        self.layers = _unique_layers(self.input_layers + [n.layer for n in self.nodes])

    @property
    def input_names(self):
        return [layer.name for layer in self.input_layers]

    @property
    def output_names(self):
        """One name per output: the name of the layer that produced it (Keras's naming of losses)."""
        names = []
        for t in self.output_tensors:
            name = t._keras_history[0].name
            names.append(name if name not in names else f"{name}_{len(names)}")
        return names

    def run(self, inputs, training=False):
        """Feed Tensors for the inputs (same nesting as at construction) and return the outputs' Tensors."""
        values = {}
        for kt, value in zip(self.input_tensors, flatten(inputs)):
            values[id(kt)] = value
        with learning_phase(training):
            for node, single, released in zip(self.nodes, self._single_io, self._released_after):
                if single:  # one tensor in, one out: no nesting to flatten and rebuild
                    values[id(node.output_tensors[0])] = node.layer(values[id(node.args[0])])
                else:
                    args, kwargs = pack_like((node.args, node.kwargs),
                                             [values[id(t)] if isinstance(t, KerasTensor) else t
                                              for t in flatten((node.args, node.kwargs))])
                    # the model's flag wins over a recorded one, as Keras (its files record training=True for
                    # layers whose call defaults to it, such as the augmentation layers)
                    kwargs.pop("training", None)
                    out = node.layer(*args, **kwargs)
                    for kt, value in zip(node.output_tensors, flatten(out)):
                        values[id(kt)] = value
                for kt in released:  # what backward needs, the ops saved: the rest can go now
                    del values[id(kt)]
        return pack_like(self.outputs, [values[id(t)] for t in self.output_tensors])

    def node_index_in_model(self, layer, node):
        """A layer's node index counted only over this model's nodes (Keras re-indexes on save)."""
        mine = [n for n in layer._inbound_nodes if n in self._node_set]
        return mine.index(node)

    def keras_layer_order(self):
        """The graph's layers in the order Keras 3 lists them (legacy weights and optimizer slots follow it).

        Keras orders a functional model's layers by depth from the outputs (deepest first), ties broken by
        when a depth-first walk from the outputs first meets them."""
        index, ordered = {}, []
        finished, input_ids = set(), {id(t) for t in self.input_tensors}
        stack = [(t, False) for t in reversed(self.output_tensors)]
        while stack:  # iterative depth-first walk: pre-order numbers layers, post-order lists nodes
            tensor, done = stack.pop()
            layer, node_index, _ = tensor._keras_history
            node = layer._inbound_nodes[node_index]
            if done:
                if id(node) not in finished:
                    finished.add(id(node))
                    ordered.append(node)
                continue
            if id(node) in finished:
                continue
            index.setdefault(id(layer), len(index))
            stack.append((tensor, True))
            if not isinstance(layer, InputLayer) and id(tensor) not in input_ids:
                stack.extend((t, False) for t in reversed(node.input_tensors))
        layer_depth, layers = _layer_depths(ordered)
        for kt in self.input_tensors:  # inputs no output needs still count, at depth 0
            layer = kt._keras_history[0]
            if id(layer) not in layers:
                layers[id(layer)] = layer
                layer_depth[id(layer)] = 0
                index[id(layer)] = -1
        return sorted(layers.values(), key=lambda l: (-layer_depth[id(l)], index[id(l)]))

    @property
    def _node_set(self):
        nodes = set(self.nodes)
        nodes.update(layer._inbound_nodes[0] for layer in self.input_layers)
        return nodes


def _last_uses(nodes, output_tensors):
    """For each node, the KerasTensors no later node reads (the outputs are always kept).

    Tensors, not ids: a pickled and restored graph has new ids."""
    last = {}
    for i, node in enumerate(nodes):
        for t in node.input_tensors:
            last[id(t)] = (i, t)
    for t in output_tensors:
        last.pop(id(t), None)
    released = [[] for _ in nodes]
    for i, t in last.values():
        released[i].append(t)
    return released


def _ordered_nodes(input_tensors, output_tensors):
    """Nodes between the inputs and the outputs, each after the nodes that produce its inputs."""
    input_ids = {id(t) for t in input_tensors}
    order, visited = [], set()
    stack = [(t, False) for t in reversed(output_tensors)]
    while stack:
        tensor, expanded = stack.pop()
        if id(tensor) in input_ids:
            continue
        layer, node_index, _ = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        if isinstance(layer, InputLayer):
            raise ValueError(f"graph disconnected: output needs input '{layer.name}', which is not among the "
                             f"model's inputs {[t.name for t in input_tensors]}")
        if expanded:
            if id(node) not in visited:
                visited.add(id(node))
                order.append(node)
            continue
        if id(node) in visited:
            continue
        stack.append((tensor, True))
        for t in reversed(node.input_tensors):
            stack.append((t, False))
    return order


def _layer_depths(ordered):
    """Each layer's depth from the outputs (its deepest node's), given nodes in post-order."""
    in_graph = {id(n) for n in ordered}
    node_depth, layer_depth, layers = {}, {}, {}
    for node in reversed(ordered):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        layers[id(node.layer)] = node.layer
        node_depth[id(node)] = depth
        if isinstance(node.layer, InputLayer):
            continue
        for t in node.input_tensors:
            parent_layer, parent_index, _ = t._keras_history
            parent = parent_layer._inbound_nodes[parent_index]
            if id(parent) in in_graph:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    return layer_depth, layers


def _unique_layers(layers):
    """Layers in first-seen order, each once."""
    seen, out = set(), []
    for layer in layers:
        if id(layer) not in seen:
            seen.add(id(layer))
            out.append(layer)
    return out


def graph_config(graph):
    """Keras 3's functional config: layers with their inbound nodes, input and output layer refs."""
    node_set = graph._node_set
    layer_configs = []
    for layer in graph.layers:
        entry = serialize(layer)
        entry["name"] = layer.name
        nodes = [n for n in layer._inbound_nodes if n in node_set]
        entry["inbound_nodes"] = [] if isinstance(layer, InputLayer) else [
            {"args": _node_args(n.args, graph), "kwargs": _node_args(n.kwargs, graph)} for n in nodes]
        layer_configs.append(entry)
    return {
        "layers": layer_configs,
        "input_layers": _refs(graph.inputs, graph),
        "output_layers": _refs(graph.outputs, graph),
    }


def _tensor_ref(t, graph):
    """[layer_name, node_index, tensor_index] of a KerasTensor, node index counted in this model."""
    layer, node_index, tensor_index = t._keras_history
    if isinstance(layer, InputLayer):
        return [layer.name, 0, 0]
    return [layer.name, graph.node_index_in_model(layer, layer._inbound_nodes[node_index]), tensor_index]


def _refs(struct, graph):
    """Input/output layer references with the model's nesting (a single tensor is a one-item list)."""
    if isinstance(struct, KerasTensor):
        return _tensor_ref(struct, graph)
    if isinstance(struct, dict):
        return {k: _tensor_ref(v, graph) for k, v in struct.items()}
    return [_tensor_ref(t, graph) for t in struct]


def _node_args(value, graph):
    """Node arguments as JSON, KerasTensors in Keras 3's `__keras_tensor__` form."""
    if isinstance(value, KerasTensor):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(value.shape), "dtype": value.dtype.name,
                           "keras_history": _tensor_ref(value, graph)}}
    if isinstance(value, (list, tuple)):
        return [_node_args(v, graph) for v in value]
    if isinstance(value, dict):
        return {k: _node_args(v, graph) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def graph_from_config(config, custom_objects=None):
    """Rebuild layers and replay their calls from a functional config; returns (inputs, outputs, layers)."""
    layers, pending = {}, []
    for entry in config["layers"]:
        layer = deserialize(entry, custom_objects)
        layers[entry["name"]] = layer
        for node in entry.get("inbound_nodes", []):
            pending.append((layer, _legacy_node(node)))
    produced = {}  # (layer_name, node_index) -> outputs
    for name, layer in layers.items():
        if isinstance(layer, InputLayer):
            produced[(name, 0)] = layer.output
    calls = {}
    while pending:
        progressed = False
        for item in list(pending):
            layer, node = item
            try:
                args = _resolve(node["args"], produced)
                kwargs = _resolve(node.get("kwargs", {}), produced)
            except KeyError:
                continue
            index = calls.get(layer.name, 0)
            produced[(layer.name, index)] = layer(*args, **kwargs)
            calls[layer.name] = index + 1
            pending.remove(item)
            progressed = True
        if not progressed:
            raise ValueError("functional config is inconsistent: some layer calls refer to tensors "
                             "that no layer produces")

    def lookup(ref):
        out = produced[(ref[0], ref[1])]
        leaves = flatten(out)
        return leaves[ref[2]] if len(leaves) > 1 else leaves[0]

    def refs(struct):
        if isinstance(struct, dict):
            return {k: lookup(v) for k, v in struct.items()}
        if struct and isinstance(struct[0], str):
            return lookup(struct)
        return [lookup(r) for r in struct]
    return refs(config["input_layers"]), refs(config["output_layers"])


def _legacy_node(node):
    """Keras 2's node form [[name, node_index, tensor_index, kwargs], ...] as Keras 3's {"args", "kwargs"}."""
    if isinstance(node, dict):
        return node
    tensors = [{"class_name": "__keras_tensor__", "config": {"keras_history": ref[:3]}} for ref in node]
    kwargs = node[0][3] if node and len(node[0]) > 3 else {}
    return {"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": kwargs}


def _resolve(value, produced):
    """Node arguments with `__keras_tensor__` entries replaced by the KerasTensors produced so far."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        name, node_index, tensor_index = value["config"]["keras_history"]
        out = produced[(name, node_index)]
        leaves = flatten(out)
        return leaves[tensor_index] if len(leaves) > 1 else leaves[0]
    if isinstance(value, list):
        return [_resolve(v, produced) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, produced) for k, v in value.items()}
    return value
