"""The tokenizer check at load: tiny.en's tokenizer passes, one without Whisper's first merge is repaired
(the multilingual test model's defect), one with another defect is refused."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer

from whisper_stream.inference.model_source import bundled_tiny_en_path
from whisper_stream.inference.tokenizer_check import TokenizerDefectError, checked_tokenizer, problems


def _tiny_en() -> Tokenizer:
    return Tokenizer.from_file(str(bundled_tiny_en_path() / "tokenizer.json"))


def _edited(edit) -> Tokenizer:
    document = json.loads(_tiny_en().to_str())
    edit(document["model"])
    return Tokenizer.from_str(json.dumps(document))


def _without_merge(merge: str):
    def edit(model: dict) -> None:
        model["merges"] = [m for m in model["merges"] if (m if isinstance(m, str) else " ".join(m)) != merge]

    return edit


def test_a_sound_tokenizer_is_kept_as_it_is() -> None:
    tokenizer = _tiny_en()
    checked, check = checked_tokenizer(tokenizer)
    assert checked is tokenizer
    assert check.repaired is None and check.describe() == "tokenizer checked"


def test_the_missing_first_merge_garbles_the_and_is_repaired() -> None:
    broken = _edited(_without_merge("Ġ t"))
    assert broken.encode(" the", add_special_tokens=False).tokens == ["Ġ", "the"]  # the defect, as shipped
    assert any("' the'" in problem for problem in problems(broken))
    repaired, check = checked_tokenizer(broken)
    assert (
        repaired.encode(" the", add_special_tokens=False).ids
        == _tiny_en().encode(" the", add_special_tokens=False).ids
        == [262]
    )
    assert problems(repaired) == []
    assert "'Ġ t'" in check.describe()


def test_another_defect_refuses_to_load_naming_what_is_wrong() -> None:
    broken = _edited(_without_merge("Ġ a"))
    with pytest.raises(TokenizerDefectError, match="' and' encodes as"):
        checked_tokenizer(broken)
