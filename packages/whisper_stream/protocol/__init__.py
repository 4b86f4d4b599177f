"""The wire protocol: what crosses the WebSocket, and nothing else.

``config`` parses the session config (the first text message), ``messages`` the control messages after it and
the JSON messages we send, ``json_text`` the JSON parsing both share (every failure a client error),
``results`` the transcript types every message carries, ``languages`` the language tags, ``errors`` the
exception tree and the close code of each. Imports nothing of the rest of the library.
"""
