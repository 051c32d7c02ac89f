"""RemoteMonitor: POST each epoch's logs to an HTTP server, as Keras's (standard library only, no requests)."""
import json
import urllib.error
import urllib.parse
import urllib.request
import warnings

import numpy as np

from tinydl.callbacks.callback import Callback


class RemoteMonitor(Callback):
    """At each epoch end, POST {"epoch": epoch, **logs} to `root + path`: as a form field `field` holding the
    JSON text (application/x-www-form-urlencoded), or with `send_as_json=True` as a JSON body. `headers` are
    added to the request. An unreachable server gives a warning, not an error, as in Keras."""

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data", headers=None,
                 send_as_json=False):
        super().__init__()
        self.root, self.path, self.field = root, path, field
        self.headers, self.send_as_json = headers, send_as_json
        self.timeout = 10.0  # seconds per POST: a stalled server must not hang training

    def on_epoch_end(self, epoch, logs=None):
        send = {"epoch": epoch}
        for key, value in (logs or {}).items():
            send[key] = value.item() if isinstance(value, (np.ndarray, np.generic)) else value
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(send).encode()
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(self.root + self.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError:
            pass  # the server answered (requests.post does not raise on an error status either)
        except (urllib.error.URLError, OSError, ValueError):
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}", stacklevel=2)
