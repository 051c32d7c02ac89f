"""A static HTTP server on 127.0.0.1 for download tests: serves a folder and counts the requests."""
import functools
import http.server
import threading


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def do_GET(self):
        type(self).requests.append(self.path)
        return super().do_GET()

    def log_message(self, *args):
        pass


class LocalServer:
    """`with LocalServer(folder) as s:` then `s.url("file.npz")`; `s.requests` lists the paths asked."""

    def __init__(self, folder):
        handler = type("Handler", (CountingHandler,), {"requests": []})
        self.handler = handler
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(handler, directory=str(folder)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def requests(self):
        return self.handler.requests

    def url(self, name):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
