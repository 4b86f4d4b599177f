"""The sans-I/O streaming core: one synchronous ``Session`` per connection. Audio and ``now`` go in,
transcription requests and wire messages come out; no sockets, no clock, no threads.

``session`` is the state machine; ``utterances``, ``request_book``, ``partials`` and ``final_context`` hold its
policy (what to ask of Whisper and when), ``prompting`` what each decode is told, ``buffer`` the audio,
``outbox`` the messages in order; ``speakers`` who said each final (online clustering of speaker
embeddings handed in), ``speaker_labels`` the finals labelled with it. Imports ``protocol``,
``audio.vad`` and ``inference``'s request types only.
"""
