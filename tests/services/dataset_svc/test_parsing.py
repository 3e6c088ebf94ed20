"""The streaming parsers, fed in awkward chunks."""

from __future__ import annotations

import pytest

from dataset_svc.datasets.inference import ColumnStats
from dataset_svc.datasets.parsing import CsvParser, JsonlParser, UploadFormatError, decode_lines


def chunked(data: bytes, size: int):
    return iter([data[start : start + size] for start in range(0, len(data), size)])


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_csv_parses_the_same_whatever_the_chunking(size):
    data = 'name,note\r\n"Zoë","line one\r\nline two"\r\nplain,"with, comma"\r\nemoji,🙂\r\n'.encode()
    parser = CsvParser(decode_lines(chunked(data, size)), delimiter=None, max_columns=10, max_field_chars=100)
    records = list(parser.records())
    assert parser.columns == ["name", "note"]
    assert [record.values for record in records] == [
        {"name": "Zoë", "note": "line one\r\nline two"},
        {"name": "plain", "note": "with, comma"},
        {"name": "emoji", "note": "🙂"},
    ]
    assert [record.line for record in records] == [2, 4, 5]


def test_invalid_utf8_names_its_line_even_across_chunks():
    data = b"a,b\n1,2\n3,4\nbad,\xc3\x28\n"
    with pytest.raises(UploadFormatError, match="line 4"):
        list(decode_lines(chunked(data, 3)))


def test_unicode_line_separators_inside_fields_do_not_split_records():
    data = 'a,b\n"x\u2028y",z\n'.encode()
    parser = CsvParser(decode_lines(iter([data])), delimiter=",", max_columns=5, max_field_chars=100)
    assert [record.values for record in parser.records()] == [{"a": "x\u2028y", "b": "z"}]


def test_long_values_become_invalid_rows():
    data = b"a,b\nshort,ok\n" + b"x" * 50 + b",too long\n"
    parser = CsvParser(decode_lines(iter([data])), delimiter=",", max_columns=5, max_field_chars=10)
    records = list(parser.records())
    assert records[0].error is None
    assert records[1].error == "line 3: the value of column 'a' is longer than 10 characters"


def test_too_many_columns_is_a_format_error():
    with pytest.raises(UploadFormatError, match="more than the limit of 3"):
        CsvParser(decode_lines(iter([b"a,b,c,d\n1,2,3,4\n"])), delimiter=",", max_columns=3, max_field_chars=10)


def test_jsonl_line_numbers_skip_blank_lines_correctly():
    data = b'{"a": 1}\n\n{"a": \n{"b": 2}\n'
    records = list(JsonlParser(decode_lines(iter([data])), max_columns=5, max_field_chars=100).records())
    assert [(record.line, record.error is None) for record in records] == [(1, True), (3, False), (4, True)]


def test_label_inference_needs_few_distinct_short_values():
    stats = ColumnStats("label")
    for index in range(100):
        stats.add(["spam", "ham"][index % 2])
    assert stats.infer() == "label"
    numbers = ColumnStats("score")
    for index in range(100):
        numbers.add(f"{index * 1.5}")
    assert numbers.infer() == "number"
    binary = ColumnStats("flag")
    for index in range(100):
        binary.add(str(index % 2))
    assert binary.infer() == "label"
