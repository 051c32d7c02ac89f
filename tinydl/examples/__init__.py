"""The model zoo: one short file per model variant, each runnable with `python -m tinydl.examples.NAME`.

Every example module has `build_model()` (an uncompiled model, used by the ONNX export test) and
`main(epochs=None, verbose=2)` that trains it on bundled or generated data and returns a dict of
results (at least `history` and the final figures it prints).
"""
EXAMPLES = ["mlp", "multi_io", "siamese", "autoencoder", "callbacks_tour", "custom_train_step", "data_parallel"]
EXAMPLES += ["cnn", "resnet", "conv_autoencoder"]
EXAMPLES += ["rnn_timeseries", "text_classifier"]
EXAMPLES += ["gpt", "bert", "t5"]
EXAMPLES += ["gnn_node", "gnn_graph"]
