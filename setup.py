"""tinydl: a small deep-learning framework written by hand on NumPy and numba."""
from setuptools import find_packages, setup

setup(
    name="tinydl",
    version="0.1.0",
    description="A readable deep-learning framework: autograd on NumPy, numba kernels, Keras-style models.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tinydl", "tinydl.*"]),
    package_data={"tinydl.datasets": ["data/*"]},
    python_requires=">=3.10",
    # scipy: numba compiles np.dot inside @njit kernels (the recurrent scans) only with scipy's BLAS bindings
    install_requires=["numpy>=1.24", "numba>=0.59", "scipy>=1.10", "threadpoolctl>=3.1"],
    extras_require={
        # CuPy is built per CUDA major version: pick the one matching the driver; [gpu] is CUDA 12
        "gpu": ["cupy-cuda12x"],
        "gpu-cuda12": ["cupy-cuda12x"],
        "gpu-cuda13": ["cupy-cuda13x"],
        "io": ["h5py>=3.8", "onnx>=1.15"],
        "tensorboard": ["tensorboard>=2.12"],
        "mpi": ["mpi4py>=4", "mpich"],  # tinydl.distribution; the mpich wheel brings its own mpiexec
        "image": ["pillow>=9"],  # tinydl.utils.load_img/save_img and image_dataset_from_directory
        "plot": ["pydot>=2"],  # tinydl.utils.plot_model, with Graphviz's `dot` program from the system
        "sklearn": ["scikit-learn>=1.6"],  # tinydl.wrappers
        # tinydl reads and writes safetensors itself; the package (and joblib) only verify it in the tests
        "openvino": ["onnx>=1.15", "openvino>=2024.0"],  # model.export(format="openvino") converts the ONNX export
        "dev": [
            "pytest>=7",
            "pytest-xdist>=3",
            "hypothesis>=6.80",
            "h5py>=3.8",
            "onnx>=1.15",
            "onnxruntime>=1.17",
            "tensorboard>=2.12",
            "pillow>=9",
            "pydot>=2",
            "scikit-learn>=1.6",
            "requests",  # Keras's RemoteMonitor, the reference tests/keras_api compares tinydl's with
            "safetensors>=0.4",
            "joblib>=1.3",
        ],
    },
    entry_points={},
)
