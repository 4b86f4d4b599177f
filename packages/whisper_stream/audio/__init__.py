"""Audio in: frames of the declared encoding and rate decoded to 16 kHz float32 mono (``decoding``), and the
VAD gate that marks where speech starts and ends (``vad``), scored by silero (``silero``), batched across the
streams of a replica (``vad_batch``); who is speaking: a speaker embedding per utterance
(``speaker_embedding``, on the features of ``speaker_features``). Imports only ``protocol`` and ``samples``.
"""
