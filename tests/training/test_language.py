import pytest

from training.language import check_language


@pytest.mark.parametrize(
    "text,code",
    [
        ("پاکستان کو طالبان حکومت تسلیم نہیں کرنی چاہیے", "ur"),
        ("پاکستان باید طالبان را به رسمیت نشناسد", "fa"),
        ("پاکستان باید د طالبانو حکومت ونه مني", "ps"),
        ("Pakistan ko Taliban hukumat ko tasleem nahi karna chahiye yaar", "ur-Latn"),
        ("Die Regierung sollte die Taliban nicht anerkennen, das wäre falsch.", "de"),
    ],
)
def test_languages_the_model_was_not_trained_on_are_flagged(text, code):
    check = check_language(text)
    assert not check.supported and check.code == code
    assert check.reason.startswith("language not supported by the model (detected " + code)


@pytest.mark.parametrize(
    "text",
    [
        "Pakistan is right to be cautious about recognising the Taliban government.",
        "You are a pathetic idiot and everyone here knows it",
        "lol",  # too short to judge: the model decides
        "Great article!",
        "Check out my channel http://spam.example.com for free gift cards now",
        "😫😓😏😪😔😖 https://www.facebook.com/photo.php?fbid=543627485763966",  # no language at all
    ],
)
def test_english_and_unjudgeable_texts_are_left_to_the_model(text):
    assert check_language(text).supported


def test_a_declared_language_is_taken_at_its_word():
    assert check_language("Short text", declared="ur").code == "ur"
    assert not check_language("Short text", declared="ps-AF").supported
    assert check_language("A perfectly normal English comment about the story.", declared="en-GB").supported


@pytest.mark.parametrize(
    "text,code",
    [
        ("この記事はとても良いです。", "ja"),
        ("شکریہ بھائی", "ur"),
        ("Путин не прав, это ужасная политика", "ru"),
    ],
)
def test_short_texts_in_another_script_are_flagged(text, code):
    check = check_language(text)
    assert not check.supported and check.code == code


def test_english_written_with_homoglyphs_is_still_english():
    # Cyrillic і о у а е standing in for Latin letters: obfuscated abuse, not another language
    assert check_language("уоu аrе а stupіd іdіоt").supported


def test_plain_english_is_recognised_without_asking_the_detector(monkeypatch):
    import training.language as language

    def no_detector():
        raise AssertionError("the detector should not be needed for this text")

    monkeypatch.setattr(language, "_get_identifier", no_detector)
    check = language.check_language(
        "I think the government should have been more careful with what they said."
    )
    assert check.supported and check.code == "en"


@pytest.mark.parametrize(
    "text,code",
    [
        ("Die Regierung in Islamabad ist sehr vorsichtig, was die Anerkennung der Taliban angeht.", "de"),
        (
            "El gobierno de Pakistán es muy prudente con el reconocimiento de los talibanes, y tiene razón.",
            "es",
        ),
        ("Le Pakistan a raison d'être prudent avec les talibans, ce n'est pas une question simple.", "fr"),
    ],
)
def test_other_latin_script_languages_still_go_to_the_detector(text, code):
    check = check_language(text)
    assert not check.supported and check.code == code
