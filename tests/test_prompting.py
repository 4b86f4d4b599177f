"""Tests for whisper_stream.core.prompting: the options of each decode, and a session's search clamped."""

from __future__ import annotations

import dataclasses

from whisper_stream.core.prompting import WHISPER_MAX_NEW_TOKENS, SamplingLimits, decode_options, sampling_for
from whisper_stream.inference.requests import TRANSCRIBE, TRANSLATE, Sampling
from whisper_stream.protocol.config import SamplingOptions, SessionConfig, WhisperOptions, config_from_dict


def config_with(**sampling: object) -> SessionConfig:
    return SessionConfig(whisper=WhisperOptions(sampling=SamplingOptions(**sampling)))  # type: ignore[arg-type]


def test_no_sampling_params_is_the_replicas_own_search() -> None:
    assert sampling_for(SessionConfig()) == (Sampling(), [])


def test_sampling_params_as_given_within_the_limits() -> None:
    config = config_with(
        beam_width=3,
        length_penalty=0.6,
        repetition_penalty=1.1,
        no_repeat_ngram_size=4,
        sampling_temperatures=(0.0, 0.4),
        max_new_tokens=100,
    )
    sampling, warnings = sampling_for(config)
    assert sampling == Sampling(3, 0.6, 1.1, 4, (0.0, 0.4), 100)
    assert warnings == []


def test_beyond_the_replicas_limits_is_clamped_with_a_warning_naming_the_field() -> None:
    config = config_from_dict(
        {
            "whisper_params": {
                "whisper_sampling_params": {
                    "beam_width": 8,
                    "max_new_tokens": 1000,
                    "sampling_temperatures": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
                }
            }
        }
    )
    sampling, warnings = sampling_for(config, SamplingLimits(max_beam_size=4))
    assert sampling.beam_size == 4
    assert sampling.max_new_tokens == WHISPER_MAX_NEW_TOKENS
    assert sampling.temperatures == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
    assert warnings == [
        "whisper_params.whisper_sampling_params.beam_width: 8 is over this server's maximum beam of 4; 4 is used",
        "whisper_params.whisper_sampling_params.max_new_tokens: 1000 is over what Whisper can generate, 444; "
        "444 is used",
        "whisper_params.whisper_sampling_params.sampling_temperatures: 8 temperatures, over this server's maximum "
        "of 6; the first 6 are used",
    ]


def test_the_warning_names_the_section_the_client_used() -> None:
    config = config_from_dict({"streaming_whisper_params": {"whisper_sampling_params": {"beam_width": 9}}})
    [warning] = sampling_for(config)[1]
    assert warning.startswith("streaming_whisper_params.whisper_sampling_params.beam_width: 9 is over")


def test_task_beam_results_and_retry() -> None:
    whisper = WhisperOptions(
        audio_language="de",
        output_language="en",
        show_beam_results=True,
        use_missing_chunk_retry=True,
        missing_chunk_wpm_threshold=90,
    )
    sampling, _ = sampling_for(SessionConfig(whisper=whisper))
    assert (sampling.task, sampling.beam_results, sampling.retry_below_wpm) == (TRANSLATE, True, 90.0)
    plain, _ = sampling_for(SessionConfig(whisper=dataclasses.replace(whisper, output_language="de")))
    assert (plain.task, plain.retry_below_wpm) == (TRANSCRIBE, 90.0)


def test_a_partial_searches_greedily_with_the_same_penalties_and_task() -> None:
    final = Sampling(5, 0.5, 1.2, 3, (0.2, 0.4), 50, TRANSLATE, True, 100.0)
    assert final.for_partial() == Sampling(None, 0.5, 1.2, 3, (0.0,), 50, TRANSLATE, False, None)
    assert final.batch_key != final.for_partial().batch_key


def test_the_clients_prefix_goes_with_the_decodes_the_session_says_are_of_the_first_final() -> None:
    whisper = WhisperOptions(prefix="  Dear John, ")
    assert decode_options(whisper, None, with_prefix=True).prefix == "Dear John,"
    assert decode_options(whisper, None).prefix is None
    assert decode_options(WhisperOptions(), None, with_prefix=True).prefix is None


def test_the_sampling_travels_in_the_options() -> None:
    sampling = Sampling(beam_size=2)
    assert decode_options(WhisperOptions(), None, sampling).sampling is sampling
