"""CuPy kernels, twins of backend/cpu under the same names and signatures."""
