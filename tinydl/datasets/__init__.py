"""Small real data sets shipped inside the package (never downloaded).

Each module has `load_data()` returning `(x_train, y_train), (x_test, y_test)` as NumPy arrays.
The data files in `data/` come from the UCI Machine Learning Repository (CC BY 4.0), as
redistributed by scikit-learn:
- digits: 1,797 8x8 grey-scale handwritten digits (Alpaydin & Kaynak, "Optical Recognition of
  Handwritten Digits"), pixel values 0..16.
- iris: 150 iris flowers, 4 measurements, 3 species (Fisher, 1936).
"""
from tinydl.datasets import digits, iris  # noqa: F401
