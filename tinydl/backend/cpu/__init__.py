"""numba kernels; each module lists kernels named in tinydl/backend/kernels.py."""
