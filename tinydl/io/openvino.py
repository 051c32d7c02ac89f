"""OpenVINO IR (`model.export("m.xml", format="openvino")`): `m.xml` (the network) and `m.bin` (weights),
converted from tinydl's ONNX export by the `openvino` package's converter (`pip install tinydl[openvino]`).

Weights stay float32 (`compress_to_fp16=False`; OpenVINO's save compresses to fp16 by default). OpenVINO's CPU
plugin computes in bf16 on processors that have it unless told otherwise: compile with
`{"INFERENCE_PRECISION_HINT": "f32"}` to get tinydl's float32 results (the tests do).
"""
import os
import tempfile

from tinydl.io.files import atomic_path

__all__ = ["export"]


def export(onnx_model, filepath):
    """Convert an ONNX ModelProto to OpenVINO IR at `filepath` (`.xml`, with the `.bin` beside it); returns
    the openvino Model."""
    import openvino  # optional: only this export needs it
    filepath = os.fspath(filepath)
    if not filepath.endswith(".xml"):
        raise ValueError(f"{filepath}: OpenVINO IR is an '.xml' file (with its '.bin' beside it); name it '*.xml'")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = os.path.join(tmp, "model.onnx")
        with open(onnx_path, "wb") as fh:
            fh.write(onnx_model.SerializeToString())
        model = openvino.convert_model(onnx_path)
        openvino.save_model(model, os.path.join(tmp, "model.xml"), compress_to_fp16=False)
        # the .bin first: an .xml that is present always finds the weights it was saved with
        for suffix in (".bin", ".xml"):
            with atomic_path(filepath[:-4] + suffix) as target, open(os.path.join(tmp, "model" + suffix), "rb") as src:
                with open(target, "wb") as dst:
                    dst.write(src.read())
                    dst.flush()
                    os.fsync(dst.fileno())
    return model
