"""Each normalisation rule on its own, the whole normaliser, and the offset map back to the original."""

from __future__ import annotations

import pytest
from rapidfuzz.utils import default_process

from bot import normalize as n


@pytest.mark.parametrize(("rule", "raw", "expected"), [
    (n.strip_harakat, "مُحَمَّدٌ", "محمد"),
    (n.strip_harakat, "هٰذا", "هذا"),
    (n.strip_harakat, "الرَّحْمٰنِ ۖ", "الرحمن "),  # Quranic pause mark U+06D6
    (n.strip_harakat, "صلى\u0610", "صلى"),
    (n.strip_tatweel, "مـحـمـد", "محمد"),
    (n.strip_format_controls, "\u202bالقمة\u202c\u200f", "القمة"),
    (n.strip_format_controls, "نیم\u200cفاصله\u2066x\u2069\ufeff\u061c\u00ad", "نیمفاصلهx"),
    (n.unify_alef, "أحمد إس آل ٱلله", "احمد اس ال الله"),
    (n.teh_marbuta_to_heh, "القمة", "القمه"),
    (n.alef_maksura_to_yeh, "مصطفى", "مصطفي"),
    (n.persian_letters, "کرمانشاه یزد گلپایگان", "كرمانشاه يزد كلپايكان"),
    (n.hamza_carriers, "المسؤول رئيس", "المسوول رييس"),
    (n.ascii_digits, "٢٠٢٥ و۱۴۰۴", "2025 و1404"),
    (n.fold_compat, "ﻻ ﷲ", "لا الله"),
    (n.fold_compat, "Sergei LAVROV Lavróv ＳＵ", "sergei lavrov lavrov su"),
    (n.join_designators, "s-400 s 400 s400 s–400", "s400 s400 s400 s400"),
    (n.join_designators, "اس-400 اس 400 اس400 باس-400", "اس400 اس400 اس400 باس400"),
    (n.join_designators, "ميغ-29 سو 35 f-16 mig-29", "ميغ29 سو35 f16 mig29"),
    (n.join_designators, "في 400 عام 2019 in 2019 mig 29", "في 400 عام 2019 in 2019 mig 29"),
])
def test_each_rule(rule, raw, expected):
    assert rule(raw) == expected


@pytest.mark.parametrize("variant", ["إس-400", "إس 400", "اس400", "أس-400", "إس-٤٠٠", "إسْ–٤٠٠", "اس ـ 400"])
def test_arabic_designator_variants_are_one_string(variant):
    assert n.normalize_text(variant) == "اس400"


@pytest.mark.parametrize("variant", ["S-400", "S 400", "S400", "s-400", "Ｓ-400", "S\u2011400", "S‐400"])
def test_latin_designator_variants_are_one_string(variant):
    assert n.normalize_text(variant) == "s400"


@pytest.mark.parametrize(("raw", "expected"), [
    ("وَقَالَ مُـحَـمَّـدٌ: إنَّ", "وقال محمد: ان"),
    ("غزة، لبنان؟", "غزه، لبنان؟"),
    ("المسئول/المسؤول", "المسيول/المسوول"),
    ("\u202bإس-٤٠٠\u202c", "اس400"),
    ("٣٠ أيلول", "30 ايلول"),
    ("S-300 و S-500", "s300 و s500"),
    ("400 صاروخ", "400 صاروخ"),
])
def test_normalize_text(raw, expected):
    assert n.normalize_text(raw) == expected
    assert n.normalize(raw).text == expected


def test_normalised_arabic_is_safe_for_default_process():
    text = n.normalize_text("وَزِيرُ الخَارِجِيَّةِ سَيْرْغِي لافْرُوف")
    assert text == "وزير الخارجيه سيرغي لافروف"
    assert default_process(text) == text  # nothing left that it would split words on


@pytest.mark.parametrize("raw", [
    "مُحَمَّدٌ", "مـحـمـد", "ﻻ إله", "\u202bالقمة\u202c", "S - 400", "إس-٤٠٠", "Lavróv", "ﷺ", "", "abc", "و ـ",
])
def test_offsets_have_one_entry_per_char_plus_end(raw):
    norm = n.normalize(raw)
    assert len(norm.offsets) == len(norm.text) + 1
    assert norm.offsets[-1] == len(raw)
    assert list(norm.offsets) == sorted(norm.offsets)
    assert all(0 <= o <= len(raw) for o in norm.offsets)


def test_span_covers_marks_and_tatweel_of_the_last_letter():
    raw = "قال مُـحَـمَّـدٌ اليوم"
    norm = n.normalize(raw)
    a = norm.text.index("محمد")
    start, end = norm.span(raw, a, a + 4)
    assert raw[start:end] == "مُـحَـمَّـدٌ"


def test_span_of_a_designator_is_the_printed_designator():
    raw = "صفقة إس - ٤٠٠ المحتملة"
    norm = n.normalize(raw)
    a = norm.text.index("اس400")
    start, end = norm.span(raw, a, a + 5)
    assert raw[start:end] == "إس - ٤٠٠"


def test_span_inside_a_ligature_takes_the_whole_character():
    raw = "ﻻفروف"
    norm = n.normalize(raw)
    assert norm.text == "لافروف"
    assert norm.span(raw, 1, 3) == (0, 2)


def test_bidi_controls_are_not_part_of_a_span():
    raw = "\u202bلافروف\u202c"
    norm = n.normalize(raw)
    assert norm.span(raw, 0, len(norm.text)) == (1, 7)
