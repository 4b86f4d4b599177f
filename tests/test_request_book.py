from __future__ import annotations

import numpy as np

from tests.fakes import result_for
from whisper_stream.core.request_book import RequestBook, RequestState
from whisper_stream.inference.requests import DecodeOptions, RequestKind

OPTIONS = DecodeOptions(language="en", prompt=None, word_timestamps=False)


def ask(book: RequestBook, kind: RequestKind = RequestKind.FINAL):
    return book.ask(kind, 0, np.zeros(160, np.float32), 0, OPTIONS)


def test_a_request_is_pending_until_answered_then_done_with_its_result() -> None:
    book = RequestBook()
    tracked = ask(book)
    assert book.take_to_run() == [tracked.request] and book.pending == 1
    assert book.answer(tracked.request.request_id, result_for("hi")) is tracked
    assert tracked.state is RequestState.DONE and tracked.result is not None and book.pending == 0


def test_withdrawing_a_handed_out_request_cancels_it_and_ignores_its_late_answer() -> None:
    book = RequestBook()
    tracked = ask(book, RequestKind.EARLY_FINAL)
    book.take_to_run()
    book.withdraw(tracked)
    assert book.take_to_cancel() == [tracked.request.request_id]
    assert tracked.state is RequestState.CANCELLED and book.pending == 0
    assert book.answer(tracked.request.request_id, result_for("late")) is None


def test_withdrawing_a_request_not_yet_handed_out_never_reaches_the_engine() -> None:
    book = RequestBook()
    tracked = ask(book, RequestKind.PARTIAL)
    book.withdraw(tracked)
    assert book.take_to_run() == [] and book.take_to_cancel() == []


def test_promoting_a_speculative_final() -> None:
    book = RequestBook()
    handed_out = ask(book, RequestKind.EARLY_FINAL)
    book.take_to_run()
    book.promote(handed_out)
    assert book.take_to_promote() == [handed_out.request.request_id]

    not_yet = ask(book, RequestKind.EARLY_FINAL)
    book.promote(not_yet)  # still in the book's hands: it goes out as a final
    [request] = book.take_to_run()
    assert request.kind is RequestKind.FINAL and book.take_to_promote() == []


def test_a_dropped_final_can_be_asked_again_with_the_same_audio() -> None:
    book = RequestBook()
    tracked = ask(book, RequestKind.EARLY_FINAL)
    book.take_to_run()
    assert book.drop(tracked.request.request_id) is tracked and tracked.state is RequestState.CANCELLED
    again = book.ask_again_as_final(tracked)
    assert again.request.kind is RequestKind.FINAL and again.request.audio is tracked.request.audio
    assert again.request.request_id != tracked.request.request_id and book.pending == 1
