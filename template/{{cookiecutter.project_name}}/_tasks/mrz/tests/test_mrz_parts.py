"""The MRZ parts on their own: check digits, parsing, correction, generation, labels, decoding, rendering."""

from __future__ import annotations

import importlib
import random
from pathlib import Path

import numpy as np
import pytest
import torch

PROJECT = Path(__file__).resolve().parents[1].name
fmt = importlib.import_module(f"{PROJECT}.mrz_format")
text = importlib.import_module(f"{PROJECT}.model.text")
dataset = importlib.import_module(f"{PROJECT}.model.dataset")
model = importlib.import_module(f"{PROJECT}.model.model")
infer = importlib.import_module(f"{PROJECT}.infer")

# The specimens of ICAO Doc 9303 (Part 4 TD3, Part 5 TD1, Part 6 TD2, Part 7 MRV-A/B).
ICAO = {
    "TD3": ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"],
    "TD1": ["I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"],
    "TD2": ["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6"],
    "MRVA": ["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L8988901C4XXX4009078F96121096ZE184226B<<<<<<"],
    "MRVB": ["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "L8988901C4XXX4009078F9612109<<<<<<<<"],
}


@pytest.mark.parametrize(
    "field, digit",
    [("L898902C3", 6), ("740812", 2), ("120415", 9), ("ZE184226B<<<<<", 1), ("D23145890", 7), ("L8988901C", 4), ("400907", 8), ("961210", 9)],
)
def test_check_digits_of_the_icao_examples(field, digit):
    assert fmt.check_digit(field) == digit


def test_composite_check_digits_of_the_icao_examples():
    td3 = ICAO["TD3"][1]
    assert fmt.check_digit(td3[0:10] + td3[13:20] + td3[21:43]) == 0
    td1 = ICAO["TD1"]
    assert fmt.check_digit(td1[0][5:30] + td1[1][0:7] + td1[1][8:15] + td1[1][18:29]) == 6


@pytest.mark.parametrize("name", list(ICAO))
def test_every_format_parses_and_checks(name):
    result = fmt.parse(ICAO[name])
    assert result.format == name
    assert result.all_valid and result.corrections == []
    assert result.fields["surname"] == "ERIKSSON" and result.fields["given_names"] == "ANNA MARIA"
    assert result.fields["issuing_state"] == "UTO"
    assert ("composite" in result.valid) == (not name.startswith("MRV"))


def test_td3_fields():
    f = fmt.parse(ICAO["TD3"]).fields
    assert (f["document_number"], f["birth_date"], f["expiry_date"], f["sex"], f["optional_data"]) == ("L898902C3", "740812", "120415", "F", "ZE184226B")


def test_a_changed_digit_fails_its_check():
    lines = list(ICAO["TD3"])
    lines[1] = lines[1][:14] + "5" + lines[1][15:]  # birth date 740812 -> 750812
    result = fmt.parse(lines)
    assert result.valid["birth_date"] is False and result.valid["composite"] is False
    assert not result.all_valid


def test_type_correction_fixes_letters_in_dates_and_digits_in_names():
    lines = list(ICAO["TD3"])
    lines[1] = lines[1][:13] + "74O8I2" + lines[1][19:]  # O and I in the birth date
    lines[0] = lines[0][:5] + "ER1KSSON" + lines[0][13:]  # a 1 in the surname
    result = fmt.parse(lines)
    assert result.all_valid
    assert result.lines == ICAO["TD3"]
    changed = {(c["line"], c["position"], c["from"], c["to"]) for c in result.corrections}
    assert changed == {(1, 15, "O", "0"), (1, 17, "I", "1"), (0, 7, "1", "I")}


def test_check_digit_correction_in_an_alphanumeric_field():
    lines = list(ICAO["TD3"])
    lines[1] = "L8989O2C3" + lines[1][9:]  # 0 read as O inside the document number
    result = fmt.parse(lines)
    assert result.lines == ICAO["TD3"] and result.all_valid
    assert [c["reason"] for c in result.corrections] == ["only reading of document_number that passes its check digit"]


def test_correction_never_changes_an_ambiguous_read():
    # Two confusable characters (8 and B) in a document number whose check digit fails:
    # search every such read; wherever more than one single swap passes, nothing changes.
    base = ICAO["TD1"]
    seen_ambiguous = 0
    for digit in "0123456789":
        number = "B8B8B8B8B"
        line0 = base[0][:5] + number + digit + base[0][15:]
        candidates = [
            i for i in range(9) for alt in fmt.CONFUSABLE[number[i]]
            if fmt.check_digit(number[:i] + alt + number[i + 1:]) == int(digit)
        ]
        result = fmt.parse([line0, base[1], base[2]], correct=True)
        if fmt.check_digit(number) == int(digit):
            continue
        if len(candidates) != 1:
            seen_ambiguous += 1
            assert result.lines[0][5:14] == number, "an ambiguous read was changed"
            assert result.valid["document_number"] is False
    assert seen_ambiguous > 0


def test_wrong_shapes_are_no_format():
    assert fmt.parse(["P<UTO", "L898"]).format is None
    assert not fmt.parse(ICAO["TD3"][:1]).all_valid


@pytest.mark.parametrize("name", list(fmt.FORMATS))
def test_generated_documents_are_always_valid(name):
    rng = random.Random(name)
    for _ in range(300):
        lines = text.random_document(rng, name)
        assert fmt.validate_lines(lines) == name
        result = fmt.parse(lines, correct=False)
        assert result.all_valid, lines
        # Correction must leave a valid read alone.
        assert fmt.parse(lines).lines == lines


def test_label_errors_say_what_is_wrong():
    with pytest.raises(fmt.MRZError, match=r"2 lines of length 44/43"):
        fmt.validate_lines([ICAO["TD3"][0], ICAO["TD3"][1][:-1]])
    with pytest.raises(fmt.MRZError, match=r"line 1 column 2: character ' '"):
        fmt.validate_lines(["P UTO" + ICAO["TD3"][0][5:], ICAO["TD3"][1]])
    with pytest.raises(fmt.MRZError, match=r"did you mean 'P'"):
        fmt.validate_lines(["p" + ICAO["TD3"][0][1:], ICAO["TD3"][1]])


def test_label_file_errors_are_one_line(tmp_path):
    from otter import OtterError

    label = tmp_path / "a.txt"
    label.write_text(ICAO["TD2"][0] + "\n" + ICAO["TD2"][1][:30] + "\n")
    with pytest.raises(OtterError) as e:
        dataset.read_label(label)
    assert str(e.value).startswith(f"{label}: 2 lines of length 36/30")
    assert "\n" not in str(e.value)


def test_encode_decode_roundtrip():
    labels, lengths = dataset.encode_lines(ICAO["TD1"])
    assert lengths.tolist() == [30, 30, 30]
    assert dataset.decode_labels(labels, lengths) == ICAO["TD1"]
    labels, lengths = dataset.encode_lines(ICAO["TD3"])
    assert lengths.tolist() == [44, 44, 0]


def _logits_for(lines, steps=192, classes=len(dataset.CLASSES)):
    """Perfect CTC logits: each character then a blank, rest blank."""
    x = torch.full((1, 3, steps, classes), -5.0)
    x[..., 0] = 5.0
    for s, line in enumerate(lines):
        for i, c in enumerate(line):
            x[0, s, 2 * i, 0] = -5.0
            x[0, s, 2 * i, dataset.CLASSES.index(c)] = 5.0
    return x


def test_greedy_ctc_decoding_torch_and_numpy():
    logits = _logits_for(ICAO["TD3"])
    assert model.greedy_decode(logits) == [ICAO["TD3"]]
    decoded = infer.ctc_greedy(logits[0].numpy(), dataset.CLASSES, 0)
    assert [t for t, _ in decoded] == ICAO["TD3"]
    # Repeats without a blank between them collapse.
    x = torch.full((1, 1, 6, len(dataset.CLASSES)), -5.0)
    for t, c in enumerate("<<-<AA"):
        x[0, 0, t, dataset.CLASSES.index(c)] = 5.0
    assert model.greedy_decode(x) == [["<<A"]]


def test_metrics():
    truth = [ICAO["TD3"], ICAO["TD1"]]
    wrong = [ICAO["TD3"][0], ICAO["TD3"][1][:-1] + "9"]
    m = model.read_metrics([ICAO["TD3"], ICAO["TD1"]], truth)
    assert m["nls"] == 1.0 and m["exact"] == 1.0 and m["check_pass"] == 1.0 and m["pass_precision"] == 1.0
    m = model.read_metrics([wrong, ICAO["TD1"]], truth)
    assert m["exact"] == 0.5 and m["check_pass"] == 0.5 and m["pass_precision"] == 1.0
    assert 0.98 < m["nls"] < 1.0
    assert m["field/surname"] == 1.0
    assert model.levenshtein("KITTEN", "SITTING") == 3


def test_rendering_is_deterministic_and_sized():
    lines = ICAO["TD1"]
    a = dataset.render_band(lines, random.Random(3), (64, 512))
    b = dataset.render_band(lines, random.Random(3), (64, 512))
    assert a.shape == (64, 512) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    ds = dataset.SynthMRZDataset(length_of_dataset=4, designs=2)
    image, labels, lengths = ds[1]
    assert image.shape == (1, 64, 512) and 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert fmt.parse(dataset.decode_labels(labels, lengths), correct=False).all_valid


def test_the_project_ships_an_ocr_b_font():
    path, found = dataset.find_font()
    assert found and Path(path).name == "OCRB.otf"


def test_missing_font_warns_once_and_falls_back(monkeypatch):
    monkeypatch.setattr(dataset, "PROJECT_FONT", Path("/nonexistent/OCRB.otf"))
    monkeypatch.setattr(dataset, "SYSTEM_FONTS", ())
    dataset.find_font.cache_clear()
    try:
        with pytest.warns(UserWarning, match="OCR-B font not found"):
            path, found = dataset.find_font()
        assert (path, found) == ("", False)
        band = dataset.render_band(ICAO["TD2"], random.Random(0), (64, 512), font_path=path)
        assert band.shape == (64, 512)
    finally:
        dataset.find_font.cache_clear()


def test_page_band_is_found_by_the_inference_finder():
    from otter.geometry import polygon_iou

    rng = random.Random(5)
    ious = []
    for _ in range(6):
        lines = text.random_mrz(rng)
        page, corners = dataset.render_page(lines, rng, (480, 640), dataset._design_bank(99, 2), dataset.find_font()[0])
        found = infer.find_band(page)
        ious.append(0.0 if found is None else polygon_iou(found, corners))
    assert np.median(ious) > 0.6, ious


def test_inference_peak_decoding_matches_otter():
    from otter.geometry import decode_heatmaps, render_heatmaps

    rng = np.random.default_rng(0)
    for _ in range(50):
        points = rng.uniform([-3, -3], [259, 195], (4, 2))  # some just outside the image
        heatmaps = render_heatmaps(points, (48, 64), 4, 1.5) * rng.uniform(0.5, 1.0)
        assert np.abs(infer.decode_peaks(heatmaps, 4) - decode_heatmaps(heatmaps, 4)[0]).max() < 1e-4
        inside = (points >= 0).all(axis=1) & (points[:, 0] <= 255) & (points[:, 1] <= 191)
        assert np.abs(infer.decode_peaks(heatmaps, 4) - points)[inside].max() < 1e-3


def test_page_dataset_targets_peak_at_the_band_corners():
    ds = dataset.SynthPageDataset(length_of_dataset=2, image_size=(96, 128), designs=2)
    image, heatmaps, corners = ds[0]
    assert image.shape == (1, 96, 128) and heatmaps.shape == (4, 24, 32) and corners.shape == (4, 2)
    decoded = infer.decode_peaks(heatmaps.numpy(), 4)
    inside = (corners[:, 0] >= 0) & (corners[:, 0] < 128) & (corners[:, 1] >= 0) & (corners[:, 1] < 96)
    assert np.abs(decoded - corners.numpy())[inside.numpy()].max() < 1e-2
