"""keras.utils' `image_dataset_from_directory` and `text_dataset_from_directory`: a folder per class.

Files are listed as Keras lists them (class folders in alphanumeric order, files sorted), shuffled with
the seed, split for validation, and read batch by batch. The result is a tinydl batch source for `fit`
with Keras's `class_names` and `file_paths` attributes.
"""
import os

import numpy as np

from tinydl.data import Sequence
from tinydl.utils.image_utils import img_to_array, load_img

__all__ = ["image_dataset_from_directory", "text_dataset_from_directory"]

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, data_format=None,
                                 format="tf", verbose=True):
    """Batches of (images, labels) from `directory/<class>/<image>`; images (batch, h, w, channels) float32."""
    if pad_to_aspect_ratio:
        raise ValueError("image_dataset_from_directory: pad_to_aspect_ratio=True is not supported by tinydl")
    if data_format not in (None, "channels_last"):
        raise ValueError(f"image_dataset_from_directory: data_format must be 'channels_last', received {data_format!r}")
    size = tuple(int(d) for d in image_size)

    def read(path):
        img = load_img(path, color_mode=color_mode, target_size=size, interpolation=interpolation,
                       keep_aspect_ratio=crop_to_aspect_ratio)
        return img_to_array(img)
    return _from_directory(directory, IMAGE_EXTENSIONS, read, labels, label_mode, class_names, batch_size, shuffle,
                           seed, validation_split, subset, follow_links, format, verbose, "images")


def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                max_length=None, shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, format="tf", verbose=True):
    """Batches of (texts, labels) from `directory/<class>/<file>.txt`; texts as a NumPy array of str."""
    def read(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return text[:max_length] if max_length is not None else text
    return _from_directory(directory, (".txt",), read, labels, label_mode, class_names, batch_size, shuffle,
                           seed, validation_split, subset, follow_links, format, verbose, "files")


class DirectoryDataset(Sequence):
    """Batches read from files on demand: `class_names`, `file_paths` as Keras's datasets have them."""

    def __init__(self, paths, labels, read, batch_size, label_mode, class_names):
        self.file_paths, self.labels, self.read = list(paths), labels, read
        self.batch_size, self.label_mode, self.class_names = batch_size, label_mode, class_names

    def __len__(self):
        if self.batch_size is None:
            return len(self.file_paths)
        return -(-len(self.file_paths) // self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range for {len(self)} batches")
        size = 1 if self.batch_size is None else self.batch_size
        lo, hi = index * size, (index + 1) * size
        items = [self.read(p) for p in self.file_paths[lo:hi]]
        x = np.array(items, dtype=object if isinstance(items[0], str) else None)
        if isinstance(items[0], str):
            x = x.astype(str)
        y = None if self.labels is None else _encode(self.labels[lo:hi], self.label_mode, len(self.class_names))
        if self.batch_size is None:
            x, y = x[0], None if y is None else y[0]
        return x if y is None else (x, y)

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def _from_directory(directory, extensions, read, labels, label_mode, class_names, batch_size, shuffle, seed,
                    validation_split, subset, follow_links, format, verbose, noun):
    """The shared listing, labelling, shuffling and splitting of both directory loaders."""
    if format not in ("tf", "tinydl"):
        raise ValueError(f"format must be 'tf' or 'tinydl' (tinydl returns its own batch source), received {format!r}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError('`label_mode` argument must be one of "int", "categorical", "binary", or None. '
                         f"Received: label_mode={label_mode}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    paths, found, names = _list_files(directory, extensions, labels, class_names, follow_links)
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f'When passing `label_mode="binary"`, there must be exactly 2 class_names. '
                         f"Received: class_names={names}")
    if verbose:
        print(f"Found {len(paths)} {noun}" + (f" belonging to {len(names)} classes." if labels == "inferred" else "."))
    if validation_split is not None and shuffle and seed is None:
        raise ValueError("If using `validation_split` and shuffling the data, you must provide a `seed` argument, "
                         "to make sure that there is no overlap between the training and validation subset.")
    if shuffle:
        seed = np.random.randint(1_000_000) if seed is None else seed
        order = np.arange(len(paths))
        np.random.RandomState(seed).shuffle(order)  # the permutation Keras's shuffle of the path list makes
        paths = [paths[i] for i in order]
        found = None if found is None else found[order]
    paths, found = _subset(paths, found, validation_split, subset, verbose, noun)
    if subset == "both":
        return tuple(DirectoryDataset(p, f, read, batch_size, label_mode, names) for p, f in zip(paths, found))
    return DirectoryDataset(paths, found, read, batch_size, label_mode, names)


def _list_files(directory, extensions, labels, class_names, follow_links):
    """Sorted file paths, their integer labels, and the class names."""
    if not os.path.isdir(directory):
        raise ValueError(f"directory {directory!r} does not exist or is not a folder")
    if labels == "inferred":
        subdirs = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
        names = list(class_names) if class_names is not None else subdirs
        if class_names is not None and sorted(class_names) != sorted(subdirs):
            raise ValueError(f"The `class_names` passed did not match the names of the subdirectories of the target "
                             f"directory. Expected: {subdirs}, but received: {class_names}")
        paths, found = [], []
        for index, name in enumerate(names):
            files = _walk(os.path.join(directory, name), extensions, follow_links)
            paths += files
            found += [index] * len(files)
        return paths, np.array(found, dtype="int32"), names
    paths = _walk(directory, extensions, follow_links)
    if labels is None:
        return paths, None, []
    found = np.asarray(labels, dtype="int32")
    if len(found) != len(paths):
        raise ValueError(f"Expected the lengths of `labels` to match the number of files in the target directory. "
                         f"len(labels) is {len(found)} while we found {len(paths)} files in directory {directory}.")
    return paths, found, [str(i) for i in range(int(found.max()) + 1)] if len(found) else []


def _walk(folder, extensions, follow_links):
    """Files under `folder` (recursively) with one of `extensions`: folders in order, files sorted in each."""
    walk = sorted(os.walk(folder, followlinks=follow_links), key=lambda entry: entry[0])
    return [os.path.join(root, f) for root, _, files in walk for f in sorted(files) if f.lower().endswith(extensions)]


def _subset(paths, found, validation_split, subset, verbose, noun):
    """The training and/or validation part: the last `validation_split` fraction is validation."""
    if validation_split is None:
        if subset is not None:
            raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
        return paths, found
    if not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: {validation_split}")
    if subset not in ("training", "validation", "both"):
        raise ValueError(f'`subset` must be either "training", "validation" or "both", received: {subset}')
    n_val = int(validation_split * len(paths))
    train = (paths[:len(paths) - n_val], None if found is None else found[:len(paths) - n_val])
    val = (paths[len(paths) - n_val:], None if found is None else found[len(paths) - n_val:])
    if verbose:
        if subset in ("training", "both"):
            print(f"Using {len(train[0])} {noun} for training.")
        if subset in ("validation", "both"):
            print(f"Using {len(val[0])} {noun} for validation.")
    if subset == "both":
        return (train[0], val[0]), (train[1], val[1])
    return train if subset == "training" else val


def _encode(labels, label_mode, num_classes):
    """Integer labels as Keras's label modes give them."""
    if label_mode == "categorical":
        return np.eye(num_classes, dtype="float32")[labels]
    if label_mode == "binary":
        return labels.astype("float32")[:, None]
    return labels.astype("int32")
