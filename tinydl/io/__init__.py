"""Serialization: the config registry, HDF5 (Keras layout), ONNX export, TensorBoard event files."""
