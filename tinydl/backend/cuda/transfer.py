"""Host-to-device copies that do not make the host wait for the GPU.

A copy from pageable host memory synchronises the stream first (the host waits for every queued kernel),
so uploading each batch with `cupy.asarray` would stall the training loop once per batch. Here a host
array is first copied (by the CPU) into a pinned staging buffer, then sent with an asynchronous copy
queued behind the work already on the stream; the caller may change its array right away. Staging
buffers form a ring, and a buffer is reused only once the event recorded after its last copy has passed.
"""
import numpy as np


class PinnedUploader:
    """Uploads host arrays through a ring of `depth` pinned staging buffers.

    `pinned_empty(nbytes)` gives a pinned uint8 host buffer, `device_empty(shape, dtype)` a device
    array, `copy_async(device_array, host_array)` queues the copy, `record_event()` returns an object
    with `synchronize()`; backend/cuda/transfer.upload uses CuPy's, the CPU tests stand-ins.
    """

    def __init__(self, pinned_empty, device_empty, copy_async, record_event, depth=8):
        self.pinned_empty, self.device_empty = pinned_empty, device_empty
        self.copy_async, self.record_event = copy_async, record_event
        self.slots = [[None, None] for _ in range(depth)]  # [pinned buffer, event after its last copy]
        self.position = 0

    def upload(self, a):
        """A device copy of host array `a` (contiguous, same dtype and shape), queued without waiting."""
        a = np.asarray(a, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        slot = self.slots[self.position]
        self.position = (self.position + 1) % len(self.slots)
        if slot[1] is not None:
            slot[1].synchronize()  # the copy that last used this buffer has finished: reuse is safe
        if slot[0] is None or slot[0].nbytes < a.nbytes:
            slot[0] = self.pinned_empty(max(a.nbytes, 1))
        staged = slot[0][:a.nbytes].view(a.dtype).reshape(a.shape)
        staged[...] = a
        out = self.device_empty(a.shape, a.dtype)
        self.copy_async(out, staged)
        slot[1] = self.record_event()
        return out


_uploader = []


def upload(a):
    """`a` (a NumPy array of numbers) on the current GPU, copied asynchronously through pinned memory."""
    import cupy  # lazy: PinnedUploader is tested on machines without CuPy
    import cupyx
    if a.dtype.kind not in "biufc" or a.size == 0:
        return cupy.asarray(a)
    if not _uploader:
        _uploader.append(PinnedUploader(
            lambda nbytes: cupyx.empty_pinned((nbytes,), dtype=np.uint8),
            lambda shape, dtype: cupy.empty(shape, dtype=dtype),
            lambda device, host: device.set(host, stream=cupy.cuda.get_current_stream()),
            _recorded_event))
    return _uploader[0].upload(a)


def _recorded_event():
    """A CUDA event recorded on the current stream now."""
    import cupy  # lazy: PinnedUploader is tested on machines without CuPy
    event = cupy.cuda.Event(block=False, disable_timing=True)
    event.record()
    return event
