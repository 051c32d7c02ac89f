"""Data sets: small real ones shipped inside the package (offline), and Keras's downloadable ones.

Each module has `load_data()` returning `(x_train, y_train), (x_test, y_test)` as NumPy arrays.
The data files in `data/` come from the UCI Machine Learning Repository (CC BY 4.0), as
redistributed by scikit-learn:
- digits: 1,797 8x8 grey-scale handwritten digits (Alpaydin & Kaynak, "Optical Recognition of
  Handwritten Digits"), pixel values 0..16.
- iris: 150 iris flowers, 4 measurements, 3 species (Fisher, 1936).

A graph data set follows its own shape (see its module):
- karate: Zachary's karate club (1977, public domain), 34 members, 78 friendships, 2 communities;
  `load_data()` returns `(edge_index, labels)`.
"""
from tinydl.datasets import digits, iris  # noqa: F401
from tinydl.datasets import karate  # noqa: F401,E402
from tinydl.datasets import poems  # noqa: F401,E402  (public-domain English poems, for character models)

# Keras's data sets, downloaded on first load_data() into ~/.keras/datasets (see remote.py)
from tinydl.datasets import boston_housing, california_housing, cifar10, cifar100  # noqa: F401,E402
from tinydl.datasets import fashion_mnist, imdb, mnist, reuters  # noqa: F401,E402
