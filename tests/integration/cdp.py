#!/usr/bin/python3
"""cdp.py - drive a headless Chromium through the DevTools protocol.

usage: cdp.py USER_DATA_DIR eval EXPRESSION   print the value (JSON) of a
                                              JavaScript expression in
                                              the first page
       cdp.py USER_DATA_DIR shot FILE.png     screenshot of that page

Chromium must run with --remote-debugging-port=0 and --user-data-dir=DIR:
it writes the port it chose into DIR/DevToolsActivePort.  Each call makes
one websocket connection (python3-websocket, Debian's) and closes it.  An
expression that returns a promise is awaited.  Exit status 1 with a
message when the page threw or the browser did not answer.
"""
import base64
import json
import sys
import urllib.request

import websocket

TIMEOUT = 10


def page_socket(user_dir):
    with open(user_dir + "/DevToolsActivePort") as f:
        port = int(f.readline())
    with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port,
                                timeout=TIMEOUT) as r:
        targets = json.load(r)
    pages = [t for t in targets if t.get("type") == "page"]
    if not pages:
        raise SystemExit("cdp.py: no page open")
    return websocket.create_connection(pages[0]["webSocketDebuggerUrl"],
                                       timeout=TIMEOUT,
                                       suppress_origin=True)


def call(ws, method, **params):
    ws.send(json.dumps({"id": 1, "method": method, "params": params}))
    while True:
        msg = json.loads(ws.recv())
        if msg.get("id") == 1:
            if "error" in msg:
                raise SystemExit("cdp.py: %s: %s" % (method, msg["error"]))
            return msg["result"]


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in ("eval", "shot"):
        raise SystemExit(__doc__)
    ws = page_socket(sys.argv[1])
    try:
        if sys.argv[2] == "eval":
            r = call(ws, "Runtime.evaluate", expression=sys.argv[3],
                     returnByValue=True, awaitPromise=True)
            if "exceptionDetails" in r:
                raise SystemExit("cdp.py: " + json.dumps(r["exceptionDetails"]))
            print(json.dumps(r["result"].get("value")))
        else:
            r = call(ws, "Page.captureScreenshot", format="png",
                     captureBeyondViewport=True)
            with open(sys.argv[3], "wb") as f:
                f.write(base64.b64decode(r["data"]))
    finally:
        ws.close()


if __name__ == "__main__":
    main()
