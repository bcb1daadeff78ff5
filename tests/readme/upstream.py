"""The README guide's upstream, `python3 -m http.server PORT --bind ADDR`,
plus one thing for its test: every request's headers are appended to the
file named by README_HEADERS_LOG (one JSON object per line), so the test
can assert what the upstream received. The pages are the same directory
listings."""

import http.server
import json
import os
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        with open(os.environ["README_HEADERS_LOG"], "a", encoding="utf-8") as log:
            log.write(json.dumps(dict(self.headers.items())) + "\n")
        super().do_GET()


if __name__ == "__main__":
    port = int(sys.argv[1])
    bind = sys.argv[sys.argv.index("--bind") + 1] if "--bind" in sys.argv else "127.0.0.1"
    http.server.test(HandlerClass=Handler, port=port, bind=bind)
