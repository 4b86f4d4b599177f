"""Whisper inference and its scheduling: the requests a session emits (``requests``), faster-whisper behind the
``Transcriber`` protocol (``transcriber``, the only module that imports it; ``context_decoding``,
``language_choice``), where the weights come from and what they run on (``model_source``, ``device``), and the
``Engine`` that shares one model between every session of a replica, batching their decodes (``engine``,
``partial_budget``). Never imports the core's policy (``core``) or the server.
"""
